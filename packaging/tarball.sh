#!/usr/bin/env bash
# The offline tarball an operator carries to a disconnected bastion, shaped like the Red Hat
# mirror registry's download: `tar xzf mirror-registry.tar.gz && ./mirror-registry install ...`.
# It holds the stripped binary and the README; the build is reproducible (fixed order, owners and
# times; SOURCE_DATE_EPOCH is honoured).
#
#   bash packaging/tarball.sh [BINARY] [OUT]
#
# BINARY defaults to the static musl build (runs on RHEL 8 and 9 alike) when there is one,
# else target/release/mirror-registry. OUT defaults to ./mirror-registry.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
musl=target/x86_64-unknown-linux-musl/release/mirror-registry
default=target/release/mirror-registry
[[ -x $musl ]] && default=$musl
bin=${1:-$default}
out=${2:-mirror-registry.tar.gz}
[[ -x $bin ]] || { echo "tarball.sh: $bin is not an executable (cargo build --release first)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$bin" "$stage/mirror-registry"
strip "$stage/mirror-registry"
install -m 0644 README.md "$stage/README.md"
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner \
  -C "$stage" -cf - README.md mirror-registry | gzip -9n > "$out"
sha256sum "$out"

#!/usr/bin/env bash
# The offline tarball an operator carries to a disconnected bastion, shaped like the Red Hat
# mirror registry's download: `tar xzf mirror-registry.tar.gz && ./mirror-registry install ...`.
# It holds the stripped binary, the README, shell completions (completions/: mirror-registry.bash,
# _mirror-registry for zsh, mirror-registry.fish) and man pages (man/man1/), the last two made by
# running the binary itself. The build is reproducible (fixed order, modes, owners and times;
# SOURCE_DATE_EPOCH is honoured).
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
install -d -m 0755 "$stage/completions" "$stage/man" "$stage/man/man1"
"$stage/mirror-registry" completion bash > "$stage/completions/mirror-registry.bash"
"$stage/mirror-registry" completion zsh > "$stage/completions/_mirror-registry"
"$stage/mirror-registry" completion fish > "$stage/completions/mirror-registry.fish"
"$stage/mirror-registry" manpage "$stage/man/man1"
# Modes are set, not left to the umask, so that the archive is the same wherever it is built.
chmod 0644 "$stage"/completions/* "$stage"/man/man1/*
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner \
  -C "$stage" -cf - README.md completions man mirror-registry | gzip -9n > "$out"
sha256sum "$out"

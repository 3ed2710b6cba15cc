#!/usr/bin/env bash
# Times `mirror-registry install` to a successful `podman login` with the printed credentials
# and the generated CA, N times (default 5), on a fresh quayRoot and temp HOME each time.
# systemd is not PID 1 in CI containers, so the recording stubs of tests/stubs stand in for
# systemctl/loginctl/firewall-cmd (their systemctl runs the unit's ExecStart= directly); on a
# real host drop the PATH line and run as root to time it with systemd.
#   cargo build --release && bash bench/install-to-login.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MIRROR_REGISTRY_BIN:-$PWD/target/release/mirror-registry}
runs=${1:-5}
stubs=$PWD/tests/stubs
for i in $(seq "$runs"); do
  t=$(mktemp -d)
  mkdir -p "$t/home" "$t/state" "$t/certs" "$t/tmp"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export HOME=$t/home STUB_STATE=$t/state MIRROR_REGISTRY_SCOPE=user PATH=$stubs:$PATH
  start=$(date +%s.%N)
  out=$("$bin" install --quayHostname "localhost:$port" --quayRoot "$t/quay" 2>/dev/null)
  password=$(sed -n 's/.*with credentials (init, \(.*\))$/\1/p' <<<"$out")
  cp "$t/quay/quay-rootCA/rootCA.pem" "$t/certs/ca.crt"
  REGISTRY_AUTH_FILE=$t/auth.json TMPDIR=$t/tmp podman login --cert-dir "$t/certs" -u init --password-stdin "localhost:$port" <<<"$password" >/dev/null
  end=$(date +%s.%N)
  awk -v i="$i" -v s="$start" -v e="$end" 'BEGIN { printf "run %d: install -> podman login %.2f s\n", i, e - s }'
  "$bin" uninstall --autoApprove --quayRoot "$t/quay" >/dev/null 2>&1
  rm -rf "$t"
done

#!/usr/bin/env bash
# Runs every fuzz target (or those named after the time) for N seconds each, default 60:
#   fuzz/run.sh [SECONDS] [TARGET...]
# Crashes are saved under fuzz/crashes/ and tried first by later runs; the exit code is 1 when
# anything was found. FUZZ_SEED=S repeats a run's random choices.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
cargo build --profile ci -p mirror-registry-fuzz --bin fuzz
exec target/ci/fuzz --seconds "$seconds" ${FUZZ_SEED:+--seed "$FUZZ_SEED"} "$@"

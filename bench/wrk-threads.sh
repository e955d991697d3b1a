#!/usr/bin/env bash
# Which wrk is wrk at its best on this machine? The pipelined login/logout
# script (requests built once) with one thread beside two, alternating,
# against the same `emlab serve`; ops/s and client CPU per op for each.
# Needs `cargo build --release` and wrk.
#   bench/wrk-threads.sh [CONNECTIONS] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
conns=${1:-8}
secs=${2:-8}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18284}
tmp=$(mktemp -d)
serve_storm_lab "$port"
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="1 2"; else order="2 1"; fi
  for threads in $order; do
    read -r ops cpu failed < <(measure_wrk)
    eval "ops$threads=$ops cpu$threads=$cpu failed$threads=$failed"
  done
  echo "round $round: wrk -t1 $ops1 ops/s at $cpu1 µs/op (failed $failed1); -t2 $ops2 ops/s at $cpu2 µs/op (failed $failed2); t1/t2: ops/s $(ratio "$ops1" "$ops2")×, CPU/op $(ratio "$cpu1" "$cpu2")×"
done

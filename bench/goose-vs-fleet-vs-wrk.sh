#!/usr/bin/env bash
# goose, emlab's own engine and wrk side by side, against the same
# `emlab serve` (scenarios/storm-lab.toml, limits lifted) in one run. All
# three log fleet members 0..N-1 in and out on N connections (N goose
# users, N phones) and check every answer:
# - goose: `emlab goose`, the EM transactions of `emlab-goose` (reqwest,
#   one request at a time per user, each answer parsed and compared);
# - the fleet as phones: `emlab run`, a closed model of N phones, each
#   logout after its login's answer, as goose does it;
# - the fleet pipelined and wrk: each login written with its logout
#   (`pipeline = true`; bench/login-logout.lua, requests built once), the
#   most a client can get from this server (bench/fleet-vs-wrk.sh).
# Every client gets THREADS threads (`emlab --threads`, wrk -t). The order
# rotates each round; client CPU per op comes from /usr/bin/time, ops from
# each side's own count.
# Needs `cargo build --release` and wrk.
#   bench/goose-vs-fleet-vs-wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
conns=${1:-8}
secs=${2:-8}
rounds=${3:-3}
threads=${4:-1}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18282}
tmp=$(mktemp -d)
serve_storm_lab "$port"
closed_scenario "$tmp/phones.toml" goose-vs-fleet "$conns" "$secs"
closed_scenario "$tmp/pipelined.toml" goose-vs-fleet "$conns" "$secs" true
for round in $(seq "$rounds"); do
  case $(( round % 4 )) in
    1) order="wrk goose phones pipelined" ;;
    2) order="goose phones pipelined wrk" ;;
    3) order="phones pipelined wrk goose" ;;
    0) order="pipelined wrk goose phones" ;;
  esac
  for side in $order; do
    case $side in
      wrk) read -r wrk_ops wrk_cpu wrk_failed < <(measure_wrk) ;;
      goose) read -r goose_ops goose_cpu < <(measure_emlab goose phones "$round" --increase-rate 1000 --quiet) ;;
      phones) read -r phone_ops phone_cpu < <(measure_emlab run phones "$round") ;;
      pipelined) read -r pipe_ops pipe_cpu < <(measure_emlab run pipelined "$round") ;;
    esac
  done
  echo "round $round: wrk (pipelined) $wrk_ops ops/s at $wrk_cpu µs client CPU/op, failed $wrk_failed"
  echo "  goose           $goose_ops ops/s at $goose_cpu µs; ÷wrk: ops/s $(ratio "$goose_ops" "$wrk_ops")×, CPU/op $(ratio "$goose_cpu" "$wrk_cpu")×; ÷fleet as phones: ops/s $(ratio "$goose_ops" "$phone_ops")×, CPU/op $(ratio "$goose_cpu" "$phone_cpu")×"
  echo "  fleet as phones $phone_ops ops/s at $phone_cpu µs; ÷wrk: ops/s $(ratio "$phone_ops" "$wrk_ops")×, CPU/op $(ratio "$phone_cpu" "$wrk_cpu")×"
  echo "  fleet pipelined $pipe_ops ops/s at $pipe_cpu µs; ÷wrk: ops/s $(ratio "$pipe_ops" "$wrk_ops")×, CPU/op $(ratio "$pipe_cpu" "$wrk_cpu")×"
done

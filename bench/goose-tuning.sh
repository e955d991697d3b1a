#!/usr/bin/env bash
# Is goose at its best in bench/goose-vs-fleet-vs-wrk.sh? `emlab goose` with
# goose's defaults beside goose with every metric it can drop and still
# write its reports (no gzip, status codes, transaction and scenario
# metrics, granular report or percentiles over time), alternating, against
# the same `emlab serve`; ops/s and client CPU per op for each.
# Needs `cargo build --release`.
#   bench/goose-tuning.sh [USERS] [SECONDS] [ROUNDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
conns=${1:-8}
secs=${2:-8}
rounds=${3:-3}
threads=${4:-1}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18283}
tmp=$(mktemp -d)
serve_storm_lab "$port"
closed_scenario "$tmp/phones.toml" goose-tuning "$conns" "$secs"
lean=(--no-gzip --no-status-codes --no-transaction-metrics --no-scenario-metrics
  --no-granular-report --no-percentiles-over-time)
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="defaults lean"; else order="lean defaults"; fi
  for side in $order; do
    case $side in
      defaults) read -r d_ops d_cpu < <(measure_emlab goose phones "d$round" --increase-rate 1000 --quiet) ;;
      lean) read -r l_ops l_cpu < <(measure_emlab goose phones "l$round" --increase-rate 1000 --quiet "${lean[@]}") ;;
    esac
  done
  echo "round $round: goose defaults $d_ops ops/s at $d_cpu µs/op; lean metrics $l_ops ops/s at $l_cpu µs/op; lean/defaults: ops/s $(ratio "$l_ops" "$d_ops")×, CPU/op $(ratio "$l_cpu" "$d_cpu")×"
done

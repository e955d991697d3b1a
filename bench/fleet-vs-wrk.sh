#!/usr/bin/env bash
# The fleet's EM API throughput side by side with wrk, against the same
# `emlab serve` (scenarios/storm-lab.toml, limits lifted) in one run.
# All post the same login and logout bodies for fleet members 0..N-1 on N
# connections and check every answer:
# - wrk: bench/login-logout.lua, its requests built once and each login
#   pipelined with its logout;
# - the fleet pipelined (`pipeline = true`): the same writes as wrk's, each
#   answer parsed as XML and compared;
# - the fleet as phones do it: a closed model of N phones, think 0, the
#   logout sent after the login's answer.
# The order rotates each round so drift on this noisy machine hits all;
# each side's client CPU per operation comes from /usr/bin/time.
# Both clients get THREADS threads (wrk -t, emlab --threads). wrk is at its
# best here with one: as many ops/s as with two, at about two thirds of the
# CPU, since the server on the same 2 cores gets the other.
# PHONES=N gives the fleet as phones N phones instead of CONNECTIONS, e.g.
# twice wrk's connections for as many requests in flight as its pipelines.
# Needs `cargo build --release` and wrk.
#   [PHONES=N] bench/fleet-vs-wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
conns=${1:-8}
secs=${2:-10}
rounds=${3:-3}
threads=${4:-1}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18280}
tmp=$(mktemp -d)
serve_storm_lab "$port"
closed_scenario "$tmp/phones.toml" fleet-vs-wrk "${PHONES:-$conns}" "$secs"
closed_scenario "$tmp/pipelined.toml" fleet-vs-wrk "$conns" "$secs" true
for round in $(seq "$rounds"); do
  case $(( round % 3 )) in
    1) order="wrk pipelined phones" ;;
    2) order="pipelined phones wrk" ;;
    0) order="phones wrk pipelined" ;;
  esac
  for side in $order; do
    case $side in
      wrk) read -r wrk_ops wrk_cpu wrk_failed < <(measure_wrk) ;;
      pipelined) read -r pipe_ops pipe_cpu < <(measure_emlab run pipelined "$round") ;;
      phones) read -r phone_ops phone_cpu < <(measure_emlab run phones "$round") ;;
    esac
  done
  echo "round $round: wrk $wrk_ops ops/s ($wrk_cpu µs client CPU/op, failed $wrk_failed)"
  echo "  fleet pipelined $pipe_ops ops/s ($pipe_cpu µs client CPU/op, every answer checked); fleet/wrk: ops/s $(ratio "$pipe_ops" "$wrk_ops")×, client CPU per op $(ratio "$pipe_cpu" "$wrk_cpu")×"
  echo "  fleet as ${PHONES:-$conns} phones $phone_ops ops/s ($phone_cpu µs client CPU/op, every answer checked); fleet/wrk: ops/s $(ratio "$phone_ops" "$wrk_ops")×, client CPU per op $(ratio "$phone_cpu" "$wrk_cpu")×"
done

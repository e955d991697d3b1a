#!/usr/bin/env bash
# The fleet's EM API throughput side by side with wrk, against the same
# `emlab serve` (scenarios/storm-lab.toml, limits lifted) in one run.
# Both post the same login and logout bodies for fleet members 0..N-1 and
# check every answer (wrk: bench/login-logout.lua; emlab: a closed model
# of N phones, think 0, each answer parsed as XML and compared). Rounds
# alternate wrk and emlab so drift on this noisy machine hits both.
# Needs `cargo build --release` and wrk.
#   bench/fleet-vs-wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
conns=${1:-8}
secs=${2:-10}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18280}
tmp=$(mktemp -d)
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 >/dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
closed_scenario "$tmp/closed.toml" fleet-vs-wrk "$conns" "$secs"
for round in $(seq "$rounds"); do
  w=$(wrk -t"$conns" -c"$conns" -d"${secs}s" -s bench/login-logout.lua "http://127.0.0.1:$port" \
      | sed -n 's/.*= \([0-9]*\) ops\/s; failed answers \([0-9]*\)/\1 \2/p')
  wrk_ops=${w% *}
  "$emlab" run "$tmp/closed.toml" --target "http://127.0.0.1:$port" --out "$tmp/r$round" >"$tmp/r$round.txt" || {
    cat "$tmp/r$round.txt"; exit 1; }
  emlab_ops=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['steps']; print(round((s['login']['count']+s['logout']['count'])/r['elapsed_s']))" "$tmp/r$round/report.json")
  ratio=$(python3 -c "print('%.2f' % ($emlab_ops / $wrk_ops))")
  echo "round $round: wrk $wrk_ops ops/s (failed ${w#* }); emlab fleet $emlab_ops ops/s (every answer checked, mismatches 0); fleet/wrk = $ratio"
done

#!/usr/bin/env bash
# The fleet's EM API throughput side by side with wrk, against the same
# `emlab serve` (scenarios/storm-lab.toml, limits lifted) in one run.
# Both post the same login and logout bodies for fleet members 0..N-1 and
# check every answer (wrk: bench/login-logout.lua with two threads, its
# requests built once and each login pipelined with its logout; emlab: a closed model of N phones, think 0, each answer
# parsed as XML and compared). The order alternates each round so drift on
# this noisy machine hits both; each side's client CPU per operation comes
# from /usr/bin/time.
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
# Each side's user+system CPU (from /usr/bin/time) per operation, beside its ops/s.
measure_wrk() {
  # wrk at its best on 2 cores: two threads, requests built once, each
  # login pipelined with its logout (which keeps their order per connection).
  /usr/bin/time -f "%U %S" -o "$tmp/wrk.time" wrk -t2 -c"$conns" -d"${secs}s" \
    -s bench/login-logout.lua "http://127.0.0.1:$port" -- pipeline >"$tmp/wrk.txt"
  python3 - "$tmp/wrk.txt" "$tmp/wrk.time" <<'PY'
import re, sys
m = re.search(r"EM API ops (\d+) in ([\d.]+) s = \d+ ops/s; failed answers (\d+)", open(sys.argv[1]).read())
ops, secs, failed = int(m[1]), float(m[2]), int(m[3])
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f %d" % (ops / secs, (user + system) * 1e6 / ops, failed))
PY
}
measure_emlab() {
  /usr/bin/time -f "%U %S" -o "$tmp/r$1.time" "$emlab" run "$tmp/closed.toml" \
    --target "http://127.0.0.1:$port" --out "$tmp/r$1" >"$tmp/r$1.txt" || { cat "$tmp/r$1.txt"; exit 1; }
  python3 - "$tmp/r$1/report.json" "$tmp/r$1.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="wrk emlab"; else order="emlab wrk"; fi
  for side in $order; do
    if [ "$side" = wrk ]; then read -r wrk_ops wrk_cpu wrk_failed < <(measure_wrk)
    else read -r emlab_ops emlab_cpu < <(measure_emlab "$round"); fi
  done
  ratio=$(python3 -c "print('%.2f' % ($emlab_ops / $wrk_ops))")
  cpu_ratio=$(python3 -c "print('%.2f' % ($emlab_cpu / $wrk_cpu))")
  echo "round $round: wrk $wrk_ops ops/s ($wrk_cpu µs client CPU/op, failed $wrk_failed); emlab fleet $emlab_ops ops/s ($emlab_cpu µs client CPU/op, every answer checked); fleet/wrk: ops/s $ratio×, client CPU per op $cpu_ratio×"
done

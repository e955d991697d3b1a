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
# Needs `cargo build --release` and wrk.
#   bench/fleet-vs-wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS] [THREADS]
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
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >/dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
closed_scenario "$tmp/phones.toml" fleet-vs-wrk "$conns" "$secs"
closed_scenario "$tmp/pipelined.toml" fleet-vs-wrk "$conns" "$secs" true
# Each side's user+system CPU (from /usr/bin/time) per operation, beside its ops/s.
measure_wrk() {
  # wrk at its best: requests built once, each login pipelined with its
  # logout (which keeps their order per connection).
  /usr/bin/time -f "%U %S" -o "$tmp/wrk.time" wrk -t"$threads" -c"$conns" -d"${secs}s" \
    -s bench/login-logout.lua "http://127.0.0.1:$port" -- pipeline >"$tmp/wrk.txt"
  python3 - "$tmp/wrk.txt" "$tmp/wrk.time" <<'PY'
import re, sys
m = re.search(r"EM API ops (\d+) in ([\d.]+) s = \d+ ops/s; failed answers (\d+)", open(sys.argv[1]).read())
ops, secs, failed = int(m[1]), float(m[2]), int(m[3])
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f %d" % (ops / secs, (user + system) * 1e6 / ops, failed))
PY
}
# measure_emlab SCENARIO ROUND
measure_emlab() {
  local out="$tmp/$1-r$2"
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" --threads "$threads" run "$tmp/$1.toml" \
    --target "http://127.0.0.1:$port" --out "$out" >"$out.txt" || { cat "$out.txt"; exit 1; }
  python3 - "$out/report.json" "$out.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
for round in $(seq "$rounds"); do
  case $(( round % 3 )) in
    1) order="wrk pipelined phones" ;;
    2) order="pipelined phones wrk" ;;
    0) order="phones wrk pipelined" ;;
  esac
  for side in $order; do
    case $side in
      wrk) read -r wrk_ops wrk_cpu wrk_failed < <(measure_wrk) ;;
      pipelined) read -r pipe_ops pipe_cpu < <(measure_emlab pipelined "$round") ;;
      phones) read -r phone_ops phone_cpu < <(measure_emlab phones "$round") ;;
    esac
  done
  echo "round $round: wrk $wrk_ops ops/s ($wrk_cpu µs client CPU/op, failed $wrk_failed)"
  echo "  fleet pipelined $pipe_ops ops/s ($pipe_cpu µs client CPU/op, every answer checked); fleet/wrk: ops/s $(ratio "$pipe_ops" "$wrk_ops")×, client CPU per op $(ratio "$pipe_cpu" "$wrk_cpu")×"
  echo "  fleet as phones $phone_ops ops/s ($phone_cpu µs client CPU/op, every answer checked); fleet/wrk: ops/s $(ratio "$phone_ops" "$wrk_ops")×, client CPU per op $(ratio "$phone_cpu" "$wrk_cpu")×"
done

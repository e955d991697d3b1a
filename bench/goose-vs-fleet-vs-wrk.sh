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
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >/dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
closed_scenario "$tmp/phones.toml" goose-vs-fleet "$conns" "$secs"
closed_scenario "$tmp/pipelined.toml" goose-vs-fleet "$conns" "$secs" true
# "OPS_PER_S CPU_US_PER_OP" of a report.json and a /usr/bin/time file.
rate_and_cpu() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}
measure_wrk() {
  /usr/bin/time -f "%U %S" -o "$tmp/wrk.time" wrk -t"$threads" -c"$conns" -d"${secs}s" \
    -s bench/login-logout.lua "http://127.0.0.1:$port" -- pipeline >"$tmp/wrk.txt"
  python3 - "$tmp/wrk.txt" "$tmp/wrk.time" <<'PY'
import re, sys
m = re.search(r"EM API ops (\d+) in ([\d.]+) s = \d+ ops/s; failed answers (\d+)", open(sys.argv[1]).read())
ops, secs, failed = int(m[1]), float(m[2]), int(m[3])
assert failed == 0, "wrk: %d failed answers" % failed
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / secs, (user + system) * 1e6 / ops))
PY
}
# measure_emlab SCENARIO ROUND
measure_emlab() {
  local out="$tmp/$1-r$2"
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" --threads "$threads" run "$tmp/$1.toml" \
    --target "http://127.0.0.1:$port" --out "$out" >"$out.txt" || { cat "$out.txt"; exit 1; }
  rate_and_cpu "$out/report.json" "$out.time"
}
# goose with every user started at once; its run time is the phase's.
measure_goose() {
  local out="$tmp/goose-r$1"
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" --threads "$threads" goose "$tmp/phones.toml" \
    --target "http://127.0.0.1:$port" --out "$out" --increase-rate 1000 --quiet >"$out.txt" \
    || { cat "$out.txt"; exit 1; }
  rate_and_cpu "$out/report.json" "$out.time"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
for round in $(seq "$rounds"); do
  case $(( round % 4 )) in
    1) order="wrk goose phones pipelined" ;;
    2) order="goose phones pipelined wrk" ;;
    3) order="phones pipelined wrk goose" ;;
    0) order="pipelined wrk goose phones" ;;
  esac
  for side in $order; do
    case $side in
      wrk) read -r wrk_ops wrk_cpu < <(measure_wrk) ;;
      goose) read -r goose_ops goose_cpu < <(measure_goose "$round") ;;
      phones) read -r phone_ops phone_cpu < <(measure_emlab phones "$round") ;;
      pipelined) read -r pipe_ops pipe_cpu < <(measure_emlab pipelined "$round") ;;
    esac
  done
  echo "round $round: wrk (pipelined) $wrk_ops ops/s at $wrk_cpu µs client CPU/op"
  echo "  goose           $goose_ops ops/s at $goose_cpu µs; ÷wrk: ops/s $(ratio "$goose_ops" "$wrk_ops")×, CPU/op $(ratio "$goose_cpu" "$wrk_cpu")×; ÷fleet as phones: ops/s $(ratio "$goose_ops" "$phone_ops")×, CPU/op $(ratio "$goose_cpu" "$phone_cpu")×"
  echo "  fleet as phones $phone_ops ops/s at $phone_cpu µs; ÷wrk: ops/s $(ratio "$phone_ops" "$wrk_ops")×, CPU/op $(ratio "$phone_cpu" "$wrk_cpu")×"
  echo "  fleet pipelined $pipe_ops ops/s at $pipe_cpu µs; ÷wrk: ops/s $(ratio "$pipe_ops" "$wrk_ops")×, CPU/op $(ratio "$pipe_cpu" "$wrk_cpu")×"
done

#!/usr/bin/env bash
# Login latency with and without 2,000 slowloris connections, in one run
# against one `emlab serve` of scenarios/storm-lab.toml (default limits:
# 30 s header timeout, 8192 connections). Each round runs the fleet's
# closed model (PHONES phones, login/logout back to back, every answer
# checked) once quiet and once while bench/slowloris.py holds SLOW
# connections that each sent a request line and trickle a header every
# 5 s, reconnecting whenever the server closes one; the order alternates
# so drift on this noisy machine hits both. Loopback only.
# Needs `cargo build --release`.
#   bench/slowloris.sh [PHONES] [SECONDS] [ROUNDS] [SLOW]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
phones=${1:-8}
secs=${2:-8}
rounds=${3:-3}
slow=${4:-2000}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18390}
tmp=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >"$tmp/serve.txt" &
server=$!
loris=
trap 'kill $loris 2>/dev/null || true; kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
closed_scenario "$tmp/closed.toml" slowloris "$phones" "$secs"

# One fleet run; prints "login-p50-ms login-p99-ms ops/s client-cpu-us-per-op".
measure() {
  local out=$1
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" run "$tmp/closed.toml" \
    --target "http://127.0.0.1:$port" --out "$out" >"$out.txt" || { cat "$out.txt"; exit 1; }
  python3 - "$out/report.json" "$out.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
login = r["steps"]["login"]
ops = login["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%.2f %.2f %d %.1f" % (login["latency_us"]["p50"] / 1e3, login["latency_us"]["p99"] / 1e3,
                             ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}

for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="quiet slowloris"; else order="slowloris quiet"; fi
  for mode in $order; do
    if [ "$mode" = slowloris ]; then
      python3 bench/slowloris.py 127.0.0.1 "$port" "$slow" >"$tmp/loris.txt" &
      loris=$!
      # Wait until every connection is open.
      for _ in $(seq 100); do grep -q "^open $slow" "$tmp/loris.txt" 2>/dev/null && break; sleep 0.1; done
      open=$(ss -Htn state established "( dport = :$port )" | wc -l)
    fi
    read -r p50 p99 ops cpu < <(measure "$tmp/$mode$round")
    if [ "$mode" = slowloris ]; then
      kill "$loris"; wait "$loris" 2>/dev/null || true
      held=$(tail -1 "$tmp/loris.txt")
      loris=
    fi
    eval "${mode}_p50=$p50 ${mode}_p99=$p99 ${mode}_ops=$ops ${mode}_cpu=$cpu"
  done
  echo "round $round: quiet login p50 $quiet_p50 ms p99 $quiet_p99 ms ($quiet_ops ops/s, $quiet_cpu µs client CPU/op); with $slow slowloris ($open open at start, $held) p50 $slowloris_p50 ms p99 $slowloris_p99 ms ($slowloris_ops ops/s, $slowloris_cpu µs client CPU/op)"
done

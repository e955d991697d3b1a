#!/usr/bin/env bash
# EM API throughput with `--state FILE` (SQLite, group commit) beside the
# same server in memory, in one run. Two `emlab serve` of
# scenarios/storm-lab.toml (limits lifted) run side by side, one with a
# state file on this machine's disk; each round runs the fleet's closed
# model (N phones = N concurrent clients, login/logout back to back, every
# answer parsed and checked) against each, in alternating order so drift
# on this noisy machine hits both. Besides ops/s: the server's CPU per
# operation (from /proc) and the fleet's, and the state file's size.
# Needs `cargo build --release`.
#   bench/state-vs-memory.sh [PHONES] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
phones=${1:-8}
secs=${2:-8}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
mem_port=${PORT:-18390}
state_port=$((mem_port + 1))
tmp=$(mktemp -d -p "${STATE_DIR:-$PWD/target}")
serve() {
  "$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$1" "${@:2}" \
    --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >/dev/null &
}
serve "$mem_port"
mem_server=$!
serve "$state_port" --state "$tmp/emlab.state"
state_server=$!
trap 'kill -INT $mem_server $state_server 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
for port in $mem_port $state_port; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
closed_scenario "$tmp/closed.toml" state-vs-memory "$phones" "$secs"

# CPU seconds (user+system) a process has used so far.
cpu_of() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

# One fleet run against port $1 (server $2); prints "ops/s fleet-µs/op server-µs/op".
measure() {
  local port=$1 pid=$2 out=$3 before after
  before=$(cpu_of "$pid")
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" run "$tmp/closed.toml" \
    --target "http://127.0.0.1:$port" --out "$out" >"$out.txt" || { cat "$out.txt"; exit 1; }
  after=$(cpu_of "$pid")
  python3 - "$out/report.json" "$out.time" "$before" "$after" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
server = float(sys.argv[4]) - float(sys.argv[3])
print("%d %.1f %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops, server * 1e6 / ops))
PY
}

for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="memory state"; else order="state memory"; fi
  for kind in $order; do
    if [ "$kind" = memory ]; then port=$mem_port pid=$mem_server; else port=$state_port pid=$state_server; fi
    read -r ops fleet_cpu server_cpu < <(measure "$port" "$pid" "$tmp/$kind$round")
    eval "${kind}_ops=$ops ${kind}_fleet_cpu=$fleet_cpu ${kind}_server_cpu=$server_cpu"
  done
  ratio=$(python3 -c "print('%.2f' % ($state_ops / $memory_ops))")
  echo "round $round: memory $memory_ops ops/s (server $memory_server_cpu µs CPU/op, fleet $memory_fleet_cpu); --state $state_ops ops/s (server $state_server_cpu µs CPU/op, fleet $state_fleet_cpu); state/memory = $ratio"
done
echo "state file: $(du -sh "$tmp" | cut -f1) after $rounds rounds (file and its write-ahead log)"

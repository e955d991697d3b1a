#!/usr/bin/env bash
# EM API throughput over HTTPS beside HTTP, against one `emlab serve
# --tls self-signed` of scenarios/storm-lab.toml (limits lifted), in one
# run. Each round runs the fleet's closed model (N phones, login/logout
# back to back, every answer parsed and checked, connections kept alive)
# once over http:// and once over https://, in alternating order so drift
# on this noisy machine hits both; client CPU per operation comes from the
# fleet process's user+system time. Then the cost of a new connection's
# TLS handshake: curl's time_appconnect - time_connect, median of 200.
# Needs `cargo build --release` and curl.
#   bench/https-vs-http.sh [PHONES] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
phones=${1:-8}
secs=${2:-8}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18380}
tls_port=${TLS_PORT:-18443}
tmp=$(mktemp -d)
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --tls self-signed --tls-listen "127.0.0.1:$tls_port" --config-tls-listen 127.0.0.1:0 \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >"$tmp/serve.txt" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$tls_port) 2>/dev/null && break; sleep 0.1; done
pem=$(sed -n 's/.*self-signed certificate written to \([^ ]*\)$/\1/p' "$tmp/serve.txt")
closed_scenario "$tmp/closed.toml" https-vs-http "$phones" "$secs"

# One fleet run against $1; prints "ops/s cpu-us-per-op".
measure() {
  local url=$1 out=$2
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" run "$tmp/closed.toml" --target "$url" \
    --ca "$pem" --out "$out" >"$out.txt" || { cat "$out.txt"; exit 1; }
  python3 - "$out/report.json" "$out.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}

for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="http https"; else order="https http"; fi
  for scheme in $order; do
    if [ "$scheme" = http ]; then url="http://127.0.0.1:$port"; else url="https://127.0.0.1:$tls_port"; fi
    read -r ops cpu < <(measure "$url" "$tmp/$scheme$round")
    eval "${scheme}_ops=$ops ${scheme}_cpu=$cpu"
  done
  ratio=$(python3 -c "print('%.2f' % ($https_ops / $http_ops))")
  echo "round $round: http $http_ops ops/s ($http_cpu µs client CPU/op); https $https_ops ops/s ($https_cpu µs client CPU/op); https/http = $ratio"
done

# The handshake of a new connection: 200 separate curl runs, each a fresh TLS session.
for _ in $(seq 200); do
  curl -s -o /dev/null --cacert "$pem" -w '%{time_connect} %{time_appconnect}\n' \
    "https://127.0.0.1:$tls_port/metrics"
done | python3 -c '
import sys, statistics
d = sorted((float(b) - float(a)) * 1000 for a, b in (l.split() for l in sys.stdin))
print("TLS handshake of a new connection (curl, 200 connections): median %.2f ms, p90 %.2f ms" % (statistics.median(d), d[int(len(d) * 0.9)]))'

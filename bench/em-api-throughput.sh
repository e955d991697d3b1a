#!/usr/bin/env bash
# EM API logins + logouts per second against `emlab serve` with Cisco's
# limits lifted (scenarios/storm-lab.toml: max_concurrent_requests 100000,
# operation_time_ms 0), driven by wrk with bench/login-logout.lua. Server
# and wrk share this machine's cores. Needs `cargo build --release` and wrk;
# EMLAB=path/to/emlab compares another build side by side.
#   bench/em-api-throughput.sh [CONNECTIONS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-8}
secs=${2:-10}
port=${PORT:-18080}
"${EMLAB:-target/release/emlab}" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 >/dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
wrk -t"$conns" -c"$conns" -d"${secs}s" -s bench/login-logout.lua "http://127.0.0.1:$port" | grep -E "EM API ops|Latency"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^em_(logins|logouts)_total|^em_errors_total" || true
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"

#!/usr/bin/env bash
# The fleet's memory with 100,000 registered phones: starts `emlab serve`
# with bench/lab-100k-sip.toml (a separate process, so the figure is the
# fleet's alone), runs bench/fleet-100k.toml against it, and reads the
# fleet's RSS while every phone sits registered in the idle phase.
# Needs `cargo build --release`.
#   bench/fleet-100k-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18180}
sip_port=${SIP_PORT:-15160}
cfg_port=$((port + 1))
log=${TMPDIR:-/tmp}/emlab-fleet-100k-serve.log
"$emlab" serve --lab bench/lab-100k-sip.toml --listen "127.0.0.1:$port" --config-listen "127.0.0.1:$cfg_port" \
  --sccp-listen 127.0.0.1:0 --sip-listen "127.0.0.1:$sip_port" >"$log" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "emlab serve" "$log" 2>/dev/null && break; sleep 0.1; done
out=${TMPDIR:-/tmp}/emlab-fleet-100k
"$emlab" run bench/fleet-100k.toml --target "http://127.0.0.1:$port" --config "http://127.0.0.1:$cfg_port" \
  --sip "127.0.0.1:$sip_port" --lab bench/lab-100k-sip.toml --out "$out" >"$out.txt" &
fleet=$!
# Sample the fleet's RSS through the run; the idle phase is its plateau.
peak=0
while kill -0 $fleet 2>/dev/null; do
  rss=$(grep VmRSS /proc/$fleet/status 2>/dev/null | awk '{print $2}') || true
  [ -n "${rss:-}" ] && [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 0.5
done
wait $fleet && status=0 || status=$?
grep -E "^(register|in_service) |phones in service|result:" "$out.txt"
echo "fleet exit $status; fleet peak RSS ${peak} kB = $((peak * 1024 / 100000)) bytes per phone (100,000 phones)"

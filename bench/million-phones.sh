#!/usr/bin/env bash
# A million registered phones on this one machine: `emlab serve` with
# bench/lab-1m-sip.toml, and bench/fleet-1m.toml as N shard processes
# (default 10) of 100,000 SIP phones each, started together after every
# shard has booted (--start-at), then merged with `emlab merge`. Prints
# each shard's peak RSS and boot time, the server's RSS, and the merged verdict.
# Needs `cargo build --release` and about 6 GB of memory.
#   bench/million-phones.sh [SHARDS] [START_IN_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
emlab=${EMLAB:-target/release/emlab}
shards=${1:-10}
start_in=${2:-240}
port=${PORT:-18280}
sip_port=${SIP_PORT:-15260}
cfg_port=$((port + 1))
out=${OUT:-${TMPDIR:-/tmp}/emlab-million}
rm -rf "$out"; mkdir -p "$out"
"$emlab" serve --lab bench/lab-1m-sip.toml --listen "127.0.0.1:$port" --config-listen "127.0.0.1:$cfg_port" \
  --sccp-listen 127.0.0.1:0 --sip-listen "127.0.0.1:$sip_port" --no-tftp --max-connections 60000 >"$out/serve.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q "serving" "$out/serve.log" 2>/dev/null && break; sleep 0.1; done
echo "server up: RSS $(grep VmRSS /proc/$server/status | awk '{print $2}') kB with the 1,000,000-phone directory"
at=$(date -u -d "+$start_in sec" +%Y-%m-%dT%H:%M:%SZ)
t0=$(date +%s.%N)
pids=()
for k in $(seq "$shards"); do
  "$emlab" run bench/fleet-1m.toml --target "http://127.0.0.1:$port" --config "http://127.0.0.1:$cfg_port" \
    --sip "127.0.0.1:$sip_port" --tftp off --shard "$k/$shards" --start-at "$at" \
    --out "$out/shard-$k" >"$out/shard-$k.txt" 2>&1 &
  pids+=($!)
done
# Peak RSS of every shard and of the server, sampled through the run.
declare -A peak
server_peak=0
while :; do
  alive=0
  for k in $(seq "$shards"); do
    pid=${pids[$((k - 1))]}
    if kill -0 "$pid" 2>/dev/null; then
      alive=1
      rss=$(grep VmRSS /proc/$pid/status 2>/dev/null | awk '{print $2}') || true
      [ -n "${rss:-}" ] && [ "$rss" -gt "${peak[$k]:-0}" ] && peak[$k]=$rss
    fi
  done
  rss=$(grep VmRSS /proc/$server/status | awk '{print $2}')
  [ "$rss" -gt "$server_peak" ] && server_peak=$rss
  [ $alive = 1 ] || break
  sleep 1
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
total=0
for k in $(seq "$shards"); do
  total=$((total + ${peak[$k]:-0}))
  booted=$(grep -m1 "phones in service" "$out/shard-$k.txt" || true)
  echo "shard $k/$shards: peak RSS ${peak[$k]:-0} kB ($(( ${peak[$k]:-0} * 1024 / (1000000 / shards) )) bytes/phone); $booted"
done
echo "fleet: $total kB over $shards processes = $((total * 1024 / 1000000)) bytes per phone"
echo "server peak RSS: $server_peak kB"
"$emlab" merge "$out/merged" $(for k in $(seq "$shards"); do echo "$out/shard-$k"; done) | grep -E "^(register|in_service) |merged|threshold|result:"

#!/usr/bin/env bash
# Capacity sweep: for each arrival rate, start `emlab serve` and `emlab run`
# as separate processes on loopback (so each one's peak RSS is its own),
# and print the login p99, the achieved rates and both peak RSS figures.
#
#   scripts/capacity-sweep.sh [SCENARIO] [RATE...]
#   scripts/capacity-sweep.sh scenarios/login-storm-10k.toml 1000/s 2000/s 4000/s
#
# GNU time writes "Command exited with non-zero status N" before the figure
# when a run fails its thresholds, hence `tail -n1`.
# Needs a release build (cargo build --release) and GNU time (package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-scenarios/login-storm-10k.toml}
shift || true
rates=("${@:-1000/s}")
bin=target/release/emlab
lab=$(sed -n 's/^lab = "\(.*\)"/\1/p' "$scenario")
lab="$(dirname "$scenario")/$lab"
port=${PORT:-18080}
out=reports/sweep-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

printf '%-10s %10s %10s %10s %10s %12s %12s %s\n' rate login/s p50_ms p99_ms max_ms fleet_rss_MB server_rss_MB verdict
for rate in "${rates[@]}"; do
  tag=${rate//\//per}
  /usr/bin/time -f '%M' -o "$out/server-$tag.rss" "$bin" serve --lab "$lab" --listen "127.0.0.1:$port" >/dev/null &
  server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  verdict=PASS
  /usr/bin/time -f '%M' -o "$out/fleet-$tag.rss" "$bin" run "$scenario" --target "http://127.0.0.1:$port" \
      --lab "$lab" --rate "$rate" --out "$out/$tag" >"$out/$tag.txt" || verdict=FAIL
  # GNU time ignores SIGINT: signal the server itself, its child.
  pkill -INT -P "$server"; wait "$server" || true
  python3 - "$out/$tag/report.json" "$rate" "$(tail -n1 "$out/fleet-$tag.rss")" "$(tail -n1 "$out/server-$tag.rss")" "$verdict" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["steps"]["login"]; us = l["latency_us"]
print(f'{sys.argv[2]:<10} {l["rate_per_s"]:>10.1f} {us["p50"]/1e3:>10.2f} {us["p99"]/1e3:>10.2f} {us["max"]/1e3:>10.2f} '
      f'{int(sys.argv[3])/1024:>12.1f} {int(sys.argv[4])/1024:>12.1f} {sys.argv[5]}')
PY
done
echo "reports: $out"

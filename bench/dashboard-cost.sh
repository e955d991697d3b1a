#!/usr/bin/env bash
# What the live dashboard costs, measured side by side in one run against
# one `emlab serve` of bench/lab-100k-sip.toml (8851 phones over SIP).
#
# 1. Throughput: the same closed-model scenario (N phones on the phone
#    path, every screen and configuration checked, each phone writing its
#    tile) with and without --dashboard, rounds alternating, while a
#    viewer reads the Server-Sent Events; prints the ratio.
# 2. 10,000 phones with --dashboard: the fleet's peak RSS with and without
#    it, and the browser's cost per update (headless Chromium over the
#    DevTools protocol: scripts/cdp.py reads the page's own timing of each
#    update, window.emlabStats).
# Needs `cargo build --release`, chromium, python3 with websocket-client.
#   bench/dashboard-cost.sh [PHONES] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
phones=${1:-200}
secs=${2:-10}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18480}
dash=${DASH_PORT:-18499}
tmp=$(mktemp -d)
"$emlab" serve --lab bench/lab-100k-sip.toml --listen "127.0.0.1:$port" \
  --config-listen 127.0.0.1:18481 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:18482 --no-tftp >/dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
target=(--target "http://127.0.0.1:$port" --config http://127.0.0.1:18481 --sip 127.0.0.1:18482
        --tftp off --lab bench/lab-100k-sip.toml)

closed() { # phones seconds
  cat >"$tmp/closed-$1.toml" <<TOML
[scenario]
name = "dashboard-cost"
description = "closed model, $1 phones on the phone path, login/logout back to back"
lab = "$PWD/bench/lab-100k-sip.toml"
path = "phone"
[load]
model = "closed"
phones = $1
duration = "$2s"
hold = "0ms"
request_timeout = "30s"
[thresholds]
rules = ["mismatches == 0"]
TOML
  echo "$tmp/closed-$1.toml"
}

# Cycles per second of one run; with "dash", a viewer follows /events.
cycles() { # scenario out with-dashboard
  local extra=() viewer=
  if [ "$3" = dash ]; then
    extra=(--dashboard "127.0.0.1:$dash")
    (sleep 1; curl -sN "http://127.0.0.1:$dash/events" >/dev/null 2>&1) & viewer=$!
  fi
  /usr/bin/time -f "%U %S" -o "$2.time" "$emlab" run "$1" "${target[@]}" "${extra[@]}" --out "$2" >"$2.txt" 2>&1 || { cat "$2.txt"; exit 1; }
  if [ -n "$viewer" ]; then kill "$viewer" 2>/dev/null || true; wait "$viewer" 2>/dev/null || true; fi
  python3 -c "
import json, sys
r = json.load(open(sys.argv[1])); u, s = map(float, open(sys.argv[2]).read().split())
print(round(r['cycles'] / r['elapsed_s']), round((u + s) * 1e6 / r['cycles']))" "$2/report.json" "$2.time"
}

scenario=$(closed "$phones" "$secs")
ratios=()
for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="plain dash"; else order="dash plain"; fi
  for kind in $order; do
    read -r ops cpu < <(cycles "$scenario" "$tmp/$kind$round" "$kind")
    eval "${kind}_ops=$ops ${kind}_cpu=$cpu"
  done
  ratio=$(python3 -c "print('%.3f' % ($dash_ops / $plain_ops))")
  ratios+=("$ratio")
  echo "round $round: $phones phones, closed model: without dashboard $plain_ops cycles/s ($plain_cpu µs fleet CPU/cycle), with dashboard and a viewer $dash_ops cycles/s ($dash_cpu µs); ratio $ratio"
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print('throughput ratio with/without: median %.3f over %d rounds (range %.3f to %.3f)' % (statistics.median(r), len(r), r[0], r[-1]))" "${ratios[@]}"

# 10,000 phones booted, cycles arriving at 200/s: RSS with and without the
# dashboard, and the browser's cost per update.
cat >"$tmp/big.toml" <<TOML
[scenario]
name = "dashboard-10k"
description = "10,000 phones on the phone path, 200 cycles/s"
lab = "$PWD/bench/lab-100k-sip.toml"
path = "phone"
[load]
phones = 10000
rate = "200/s"
duration = "25s"
hold = "1s"
request_timeout = "30s"
TOML
big="$tmp/big.toml"
/usr/bin/time -f "%M" -o "$tmp/rss-plain" "$emlab" run "$big" "${target[@]}" --out "$tmp/big-plain" >"$tmp/big-plain.txt" 2>&1 || true
/usr/bin/time -f "%M" -o "$tmp/rss-dash" "$emlab" run "$big" "${target[@]}" --dashboard "127.0.0.1:$dash" --out "$tmp/big-dash" >"$tmp/big-dash.txt" 2>&1 &
run=$!
sleep 15
python3 scripts/cdp.py "http://127.0.0.1:$dash/" --wait 10 --eval "JSON.stringify(window.emlabStats)" \
  --eval "document.querySelectorAll('.phone').length" > "$tmp/browser.json"
wait $run || true
python3 - "$tmp/browser.json" "$tmp/rss-plain" "$tmp/rss-dash" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
stats = json.loads(b["JSON.stringify(window.emlabStats)"])
plain, dash = (int(open(f).read().split()[-1]) for f in sys.argv[2:4])
print("10,000 phones: %d tiles drawn; browser %.2f ms per update (mean of %d updates, last %.2f ms)"
      % (b["document.querySelectorAll('.phone').length"], stats["totalMs"] / max(1, stats["updates"]), stats["updates"], stats["lastMs"]))
print("10,000 phones: fleet peak RSS %d kB without the dashboard, %d kB with it (+%d kB)" % (plain, dash, dash - plain))
PY
grep -h "^result\|^mismatches" "$tmp/big-plain.txt" "$tmp/big-dash.txt" || true

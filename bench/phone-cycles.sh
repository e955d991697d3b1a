#!/usr/bin/env bash
# The phone path's cost on the client: full phone cycles (services page,
# credentials, Login Successful, restart, configuration re-read and
# checked; the same back to logout) per second and per second of client
# CPU, against `emlab serve` of scenarios/storm-lab.toml in another
# process. A closed model of N phones (7960s over SCCP and 8851s over SIP,
# as the lab's [fleet] mixes them), think 0, for S seconds, R rounds.
# Needs `cargo build --release`.
#   bench/phone-cycles.sh [PHONES] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
phones=${1:-64}
secs=${2:-10}
rounds=${3:-3}
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18380}
tmp=$(mktemp -d)
"$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$port" --config-listen "127.0.0.1:$((port + 1))" \
  --sccp-listen "127.0.0.1:$((port + 2))" --sip-listen "127.0.0.1:$((port + 3))" --no-tftp >/dev/null 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
cat >"$tmp/phone.toml" <<TOML
[scenario]
name = "phone-cycles"
lab = "$PWD/scenarios/storm-lab.toml"
path = "phone"
[load]
model = "closed"
phones = $phones
duration = "${secs}s"
[thresholds]
rules = ["mismatches == 0"]
TOML
for round in $(seq "$rounds"); do
  /usr/bin/time -f "%U %S" -o "$tmp/time" "$emlab" run "$tmp/phone.toml" --target "http://127.0.0.1:$port" \
    --config "http://127.0.0.1:$((port + 1))" --sccp "127.0.0.1:$((port + 2))" --sip "127.0.0.1:$((port + 3))" \
    --tftp off --out "$tmp/r$round" >"$tmp/r$round.txt" || { cat "$tmp/r$round.txt"; exit 1; }
  python3 - "$tmp/r$round/report.json" "$tmp/time" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
user, system = map(float, open(sys.argv[2]).read().split())
cycles = r["steps"]["logout"]["count"]
secs = r["elapsed_s"] - r["boot_s"]
print("round %s: %d phone cycles in %.1f s = %.0f cycles/s; client CPU %.2f s = %.0f cycles per client core-second (%.0f µs per cycle)"
      % (sys.argv[3], cycles, secs, cycles / secs, user + system, cycles / (user + system), (user + system) * 1e6 / cycles))
PY
done

#!/usr/bin/env bash
# The conformance table of README.md: `emlab conform` against an `emlab
# serve` of each shipped lab (its own names, its own roles), then against
# the embedded server for each profile, with the wall time of each run.
# Needs `cargo build --release`.
#   bench/conform-labs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
emlab=${EMLAB:-target/release/emlab}
port=${PORT:-18470}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for lab in conformance/lab.toml scenarios/*lab*.toml; do
  "$emlab" serve --lab "$lab" --lab-control --listen "127.0.0.1:$port" \
    --config-listen "127.0.0.1:$((port + 1))" --sccp-listen "127.0.0.1:$((port + 2))" \
    --sip-listen "127.0.0.1:$((port + 3))" --no-tftp >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  summary=$("$emlab" conform --target "http://127.0.0.1:$port" --config "http://127.0.0.1:$((port + 1))" \
    --sccp "127.0.0.1:$((port + 2))" --sip "127.0.0.1:$((port + 3))" --tftp off \
    --lab-control "http://127.0.0.1:$port" --lab "$lab" --out "$tmp/out" 2>&1 | grep -E '^[0-9]+ passed' || true)
  kill -INT $server; wait $server 2>/dev/null || true
  echo "$lab: $summary"
done
for profile in ucm ucm4 cme; do
  echo "embedded $profile: $("$emlab" conform --profile $profile --out "$tmp/out" 2>&1 | grep -E '^[0-9]+ passed')"
done

# Shared by the bench scripts: source it from the repository's root.

# closed_scenario FILE NAME PHONES SECONDS [PIPELINE]: a scenario of PHONES
# phones on the EM API path, each logging in and out back to back for
# SECONDS against scenarios/storm-lab.toml (limits lifted), every answer
# checked; PIPELINE=true writes each login with its logout, as wrk's
# pipeline does.
closed_scenario() {
  cat >"$1" <<TOML
[scenario]
name = "$2"
description = "closed model, $3 phones, login/logout back to back"
lab = "$PWD/scenarios/storm-lab.toml"
[load]
model = "closed"
phones = $3
duration = "$4s"
query = false
pipeline = ${5:-false}
[thresholds]
rules = ["mismatches == 0"]
TOML
}

# serve_storm_lab PORT: `emlab serve` of scenarios/storm-lab.toml (limits
# lifted) on 127.0.0.1:PORT, its other listeners on free ports and no TFTP;
# stopped, and $tmp removed, when the script exits. Needs $emlab and $tmp.
serve_storm_lab() {
  "$emlab" serve --lab scenarios/storm-lab.toml --listen "127.0.0.1:$1" \
    --config-listen 127.0.0.1:0 --sccp-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --no-tftp >/dev/null &
  server=$!
  trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && break; sleep 0.1; done
}

# rate_and_cpu REPORT_JSON TIME_FILE: "OPS_PER_S CPU_US_PER_OP" of an emlab
# report (logins and logouts over its elapsed time) and the user+system CPU
# that /usr/bin/time -f "%U %S" wrote.
rate_and_cpu() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["steps"]["login"]["count"] + r["steps"]["logout"]["count"]
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f" % (ops / r["elapsed_s"], (user + system) * 1e6 / ops))
PY
}

# measure_wrk: "OPS_PER_S CPU_US_PER_OP FAILED" of wrk at its best against
# 127.0.0.1:$port: bench/login-logout.lua with its requests built once and
# each login pipelined with its logout (which keeps their order per
# connection), $threads threads, $conns connections, $secs seconds.
measure_wrk() {
  /usr/bin/time -f "%U %S" -o "$tmp/wrk.time" wrk -t"$threads" -c"$conns" -d"${secs}s" \
    -s bench/login-logout.lua "http://127.0.0.1:$port" -- pipeline >"$tmp/wrk.txt"
  python3 - "$tmp/wrk.txt" "$tmp/wrk.time" <<'PY'
import re, sys
m = re.search(r"EM API ops (\d+) in ([\d.]+) s = \d+ ops/s; failed answers (\d+)", open(sys.argv[1]).read())
ops, secs, failed = int(m[1]), float(m[2]), int(m[3])
user, system = map(float, open(sys.argv[2]).read().split())
print("%d %.1f %d" % (ops / secs, (user + system) * 1e6 / ops, failed))
PY
}

# measure_emlab SUBCOMMAND SCENARIO ROUND [ARGS...]: "OPS_PER_S CPU_US_PER_OP"
# of `emlab --threads $threads SUBCOMMAND $tmp/SCENARIO.toml` (run or goose)
# against 127.0.0.1:$port.
measure_emlab() {
  local command=$1 scenario=$2 out="$tmp/$1-$2-r$3"
  shift 3
  /usr/bin/time -f "%U %S" -o "$out.time" "$emlab" --threads "$threads" "$command" "$tmp/$scenario.toml" \
    --target "http://127.0.0.1:$port" --out "$out" "$@" >"$out.txt" || { cat "$out.txt"; exit 1; }
  rate_and_cpu "$out/report.json" "$out.time"
}

# ratio A B: A / B to two decimals.
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

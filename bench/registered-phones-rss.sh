#!/usr/bin/env bash
# Server memory with N registered phones: starts `emlab serve` with
# bench/lab-100k-sip.toml, reads its RSS, registers N 8851s over SIP/UDP
# from loopback (REGISTER with Cisco's Contact parameters, each answered
# 200 OK), and reads the RSS again.  Needs `cargo build --release`.
#   bench/registered-phones-rss.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
sip_port=${SIP_PORT:-15060}
target/release/emlab serve --lab bench/lab-100k-sip.toml --listen 127.0.0.1:0 --config-listen 127.0.0.1:0 \
  --sccp-listen 127.0.0.1:0 --sip-listen "127.0.0.1:$sip_port" >"${TMPDIR:-/tmp}/emlab-rss-serve.log" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
# Ready when it prints its banner (building a 100,000-phone directory takes a moment).
for _ in $(seq 100); do grep -q "emlab serve" "${TMPDIR:-/tmp}/emlab-rss-serve.log" 2>/dev/null && break; sleep 0.1; done
rss() { grep VmRSS /proc/$server/status | awk '{print $2}'; }
before=$(rss)
python3 - "$n" "$sip_port" <<'PY'
# Like phones, resend a REGISTER that got no answer (UDP may drop a burst).
import socket, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(2)
me = "127.0.0.1:%d" % s.getsockname()[1]
def register(i):
    dev = "SEP%012X" % (0x0E0000000000 + i)
    msg = ("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\n"
           "From: <sip:%d@127.0.0.1>;tag=t%d\r\nTo: <sip:%d@127.0.0.1>\r\nCall-ID: reg-%d@127.0.0.1\r\n"
           "CSeq: 1 REGISTER\r\nContact: <sip:p%d@%s>;+u.sip!devicename.ccm.cisco.com=\"%s\"\r\n"
           "Expires: 3600\r\nContent-Length: 0\r\n\r\n") % (me, i, 20000 + i, i, 20000 + i, i, i, me, dev)
    s.sendto(msg.encode(), ("127.0.0.1", port))
pending = set(range(n))
window = 200                      # REGISTERs in flight
for attempt in range(5):
    queue = sorted(pending); sent = 0; in_flight = 0
    while queue or in_flight:
        while queue and in_flight < window:
            register(queue.pop()); in_flight += 1
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        in_flight -= 1
        if not data.startswith(b"SIP/2.0 200"):
            sys.exit("unexpected answer: %r" % data[:80])
        call_id = data.split(b"Call-ID: reg-")[1].split(b"@")[0]
        pending.discard(int(call_id))
    if not pending:
        break
if pending:
    sys.exit("%d phones never got an answer" % len(pending))
print("registered %d phones (answers awaited in %d rounds)" % (n, attempt + 1))
PY
sleep 1
after=$(rss)
echo "server RSS before registrations: ${before} kB; with $n registered: ${after} kB"
python3 -c "import sys; b,a,n=int(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]); print('total %.0f bytes/phone; registrations alone %.0f bytes/phone' % (a*1024/n, (a-b)*1024/n))" "$before" "$after" "$n"

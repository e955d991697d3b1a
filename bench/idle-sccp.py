"""Opens N TCP connections to an SCCP listener that never register, then
reports how many the server has closed after each second, up to SECONDS.
   python3 bench/idle-sccp.py HOST PORT N SECONDS"""
import asyncio, sys, time

host, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


async def hold(closed_at, start):
    r, w = await asyncio.open_connection(host, port)
    try:
        await r.read(1)  # EOF or reset when the server closes it
    except OSError:
        pass
    closed_at.append(time.monotonic() - start)


async def main():
    closed_at = []
    start = time.monotonic()
    tasks = [asyncio.create_task(hold(closed_at, start)) for _ in range(n)]
    await asyncio.sleep(0)
    while time.monotonic() - start < limit and len(closed_at) < n:
        await asyncio.sleep(1)
        print("%5.1f s: %d of %d closed by the server" % (time.monotonic() - start, len(closed_at), n), flush=True)
    for t in tasks:
        t.cancel()
    if closed_at:
        print("first closed at %.2f s, last at %.2f s" % (min(closed_at), max(closed_at)))


asyncio.run(main())

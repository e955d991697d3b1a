#!/usr/bin/env python3
"""Drive headless Chromium over the DevTools protocol: open a page, let it
run for some real seconds (Server-Sent Events keep a page loading forever,
so --dump-dom and --screenshot never fire), then print the DOM and values of
JavaScript expressions as JSON, and optionally save a screenshot.

    scripts/cdp.py URL [--wait S] [--eval EXPR]... [--click SELECTOR] [--screenshot FILE]

Needs Debian's chromium and PyPI's websocket-client.
"""
import argparse, base64, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
import websocket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--wait", type=float, default=4.0)
    ap.add_argument("--eval", action="append", default=[])
    ap.add_argument("--screenshot")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    a = ap.parse_args()
    port = free_port()
    profile = tempfile.mkdtemp(prefix="emlab-chromium-")
    chrome = subprocess.Popen(
        [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         f"--remote-debugging-port={port}", f"--window-size={a.width},{a.height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=1))
                break
            except OSError:
                time.sleep(0.1)
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        n = [0]

        def call(method, **params):
            n[0] += 1
            ws.send(json.dumps({"id": n[0], "method": method, "params": params}))
            while True:
                m = json.loads(ws.recv())
                if m.get("id") == n[0]:
                    if "error" in m:
                        raise RuntimeError(f"{method}: {m['error']}")
                    return m.get("result", {})

        call("Page.enable")
        call("Page.navigate", url=a.url)
        time.sleep(a.wait)
        out = {}
        for expr in a.eval:
            r = call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
            out[expr] = r.get("result", {}).get("value")
        out["dom"] = call("Runtime.evaluate", expression="document.documentElement.outerHTML",
                          returnByValue=True)["result"]["value"]
        if a.screenshot:
            shot = call("Page.captureScreenshot", format="png")
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        json.dump(out, sys.stdout)
    finally:
        chrome.kill()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()

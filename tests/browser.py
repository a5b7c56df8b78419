"""Load a page in headless Chromium over the DevTools protocol; report console errors and image states."""

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def load_page(path: Path, timeout: float = 60.0, width: int = 1280, screenshot: Path | None = None) -> dict:
    """{"errors": [console/exception/log errors], "images": [[complete, naturalWidth], ...], "title": str,
    "scroll_width": px, "viewport_width": px, "height": px} of the page in a ``width``-px-wide window; with
    ``screenshot``, a PNG of the whole page is written there."""
    import base64

    import websocket

    profile = tempfile.mkdtemp(prefix="empf-chromium-")
    proc = subprocess.Popen([chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.time() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        ws = websocket.create_connection(next(p for p in pages if p["type"] == "page")["webSocketDebuggerUrl"],
                                         timeout=timeout, suppress_origin=True)
        msg_id = 0
        events = []

        def call(method, **params):
            nonlocal msg_id
            msg_id += 1
            ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                m = json.loads(ws.recv())
                if m.get("id") == msg_id:
                    return m.get("result", {})
                events.append(m)

        for domain in ("Page", "Runtime", "Log"):
            call(f"{domain}.enable")
        call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        call("Page.navigate", url=path.resolve().as_uri())
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            events.append(json.loads(ws.recv()))
        result = call("Runtime.evaluate", expression="JSON.stringify({title: document.title, images: "
                      "Array.from(document.images).map(i => [i.complete, i.naturalWidth]), scroll_width: "
                      "document.documentElement.scrollWidth, viewport_width: document.documentElement.clientWidth, "
                      "height: document.documentElement.scrollHeight})", returnByValue=True)
        page = json.loads(result["result"]["value"])
        if screenshot is not None:
            shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": width, "height": page["height"], "scale": 1})
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        errors = []
        for e in events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("text", "exception"))
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(str(p.get("args")))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(p["entry"]["text"])
        ws.close()
        return {"errors": errors, **page}
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)

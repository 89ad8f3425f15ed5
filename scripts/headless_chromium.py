"""Drive headless Chromium over the DevTools protocol on a pipe: open a local page, watch its
console and network, run script in it, take screenshots. No dependency beyond the browser.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3 and write
replies and events to descriptor 4, one JSON message each, ended by a NUL byte: no port, no
websocket library. tests/evaluation/test_report.py uses this to check the HTML report in a real browser;
run directly, it takes the README's screenshot of a report:

    python scripts/headless_chromium.py report.html -o docs/report.png [--focus maria:3]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name) if not os.path.isabs(name) else (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page (tab) attached; ``events`` keeps every page event."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 1000, timeout: float = 30.0):
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError("no Chromium found (looked for " + ", ".join(CANDIDATES) + ")")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="ngram-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends out of the way of 3 and 4 before putting them there.
        to_browser_r = self._high(to_browser_r)
        from_browser_w = self._high(from_browser_w)

        def wire():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        args = [executable, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                "--font-render-hinting=none", f"--window-size={width},{height}", "about:blank"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=wire, pass_fds=(3, 4), close_fds=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    @staticmethod
    def _high(fd: int) -> int:
        import fcntl

        high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return high

    # ----- the protocol --------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the pipe (did it start?)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float | None = None) -> dict:
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            event = self._receive(deadline)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return event

    # ----- what a test asks --------------------------------------------------------------------
    def open(self, path: str | os.PathLike) -> str:
        url = Path(path).resolve().as_uri()
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        return url

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def settle(self, seconds: float = 0.3) -> None:
        """Read events for a moment (late console messages, requests)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                event = self._receive(deadline)
                if "method" in event:
                    self.events.append(event)
        except BrowserError:
            pass

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                errors.append(f"console.{params['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                errors.append(f"log {entry.get('level')} ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        return errors

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def mouse_move(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, path: str | os.PathLike, full_page: bool = False) -> bytes:
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
        Path(path).write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self._send({"id": self._next_id + 1, "method": "Browser.close"})
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


FOCUS_CELL = """
(() => {
  const [name, k] = %s;
  const row = [...document.querySelectorAll('.name-row')].find(r => r.querySelector('.name').textContent === name);
  if (!row) return null;
  const cell = row.querySelectorAll('.c')[k];
  cell.scrollIntoView({block: 'nearest'});
  cell.focus({preventScroll: true});
  return document.getElementById('tip').innerText;
})()
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot an HTML report in headless Chromium.")
    parser.add_argument("page")
    parser.add_argument("-o", "--output", required=True, help="PNG file")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1400)
    parser.add_argument("--focus", help="NAME:K focuses the K-th cell (0-based) of that name's strip, showing its tooltip")
    parser.add_argument("--sort", help="a value of the page's sort menu, e.g. total-desc")
    args = parser.parse_args(argv)
    with Browser(width=args.width, height=args.height) as browser:
        browser.open(args.page)
        if args.sort:
            browser.evaluate(f"(() => {{ const s = document.getElementById('sort'); s.value = {json.dumps(args.sort)}; "
                             "s.dispatchEvent(new Event('change')); })()")
        if args.focus:
            name, k = args.focus.rsplit(":", 1)
            if browser.evaluate(FOCUS_CELL % json.dumps([name, int(k)])) is None:
                print(f"no name {name!r} among the drawn names", file=sys.stderr)
                return 1
        browser.settle(0.3)
        errors = browser.console_errors()
        browser.screenshot(args.output)
    for line in errors:
        print(line, file=sys.stderr)
    print(f"wrote {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))

"""A headless Chromium driven over its DevTools protocol, for the tests that look at a page as a person would.

Why not Playwright or Selenium: both download a browser build of their own; this speaks the protocol of the system's
Chromium (Debian's `chromium` package) through one websocket, with nothing downloaded. Chromium resolves no host name
but 127.0.0.1 (`--host-resolver-rules`), so a page that reaches outside the machine fails to, and `requests` lists
every URL the page asked for.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--remote-debugging-port=0"]


class Chromium:
    """One headless Chromium with a fresh profile and one page; `evaluate` runs JavaScript in it."""

    def __init__(self, width: int = 1280, height: int = 1600, timeout: float = 120.0) -> None:
        """`timeout`: the longest wait for Chromium to start and for the answer to one command (a navigation is
        answered once the server has sent the page, which a machine busy with other work delays)."""
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
                                         f"--window-size={width},{height}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = self._devtools_port(timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
                page = next(target for target in json.load(answer) if target["type"] == "page")
            self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout,
                                                      suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self._next_id = 0
        self.requests: list[str] = []
        self.call("Network.enable")
        self.call("Page.enable")

    def _devtools_port(self, timeout: float) -> int:
        """Chromium writes the port it chose for `--remote-debugging-port=0` into the profile."""
        announced = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if announced.is_file() and announced.read_text().strip():
                return int(announced.read_text().split()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"{CHROMIUM} exited with status {self.process.returncode} before it opened its "
                                   "DevTools port")
            time.sleep(0.1)
        raise TimeoutError(f"{CHROMIUM} did not open its DevTools port within {timeout:g} s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result; events that arrive meanwhile are recorded."""
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"the page did not show {what} within {timeout:g} s")

    def open(self, url: str, timeout: float = 120.0) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout, f"{url} loaded")

    def screenshot(self, path: str | Path) -> None:
        """A PNG of the whole page, below the window's height too."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

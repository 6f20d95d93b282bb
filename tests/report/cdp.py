"""Headless Chromium over the DevTools protocol, through a pipe (no port, no network).

Chromium's `--remote-debugging-pipe` reads NUL-terminated JSON commands on fd 3 and
writes responses and events on fd 4. `open_page()` loads one URL and returns what
a person would notice: console errors, uncaught exceptions, failed or external
requests, and the result of a probe expression; optionally a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe"]


def chromium_path() -> str | None:
    return shutil.which("chromium")


@dataclass
class PageResult:
    loaded: bool = False
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    probe: object = None

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.exceptions + self.log_errors + self.failed_requests


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int, deadline: float) -> None:
        self.proc, self.w, self.r, self.deadline = proc, to_browser, from_browser, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self) -> dict:
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            ev = self._read_message()
            if ev.get("method") == method:
                return ev
            self.events.append(ev)


def open_page(url: str, probe: str, screenshot: Path | None = None, width: int = 1280, timeout: float = 60.0) -> PageResult:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed: run scripts/install-system-test-deps.sh")
    to_r, to_w = os.pipe()  # we write commands, Chromium reads them on fd 3
    from_r, from_w = os.pipe()  # Chromium writes on fd 4, we read

    def wire() -> None:  # in the child: our pipe ends become fds 3 and 4, whatever numbers they had
        high_r = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    with tempfile.TemporaryDirectory(prefix="ft-chromium-") as profile:
        proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"], preexec_fn=wire,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(3, 4))  # kept open after wire() ran
        os.close(to_r)
        os.close(from_w)
        pipe = _Pipe(proc, to_w, from_r, time.monotonic() + timeout)
        result = PageResult()
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
            pipe.call("Page.navigate", {"url": url}, session=session)
            pipe.wait_event("Page.loadEventFired")
            result.loaded = True
            value = pipe.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
            result.probe = value.get("result", {}).get("value")
            if screenshot is not None:
                metrics = pipe.call("Page.getLayoutMetrics", session=session)
                height = min(16000, int(metrics["cssContentSize"]["height"]))
                pipe.call("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
                shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)  # drain pending events
        finally:
            for ev in pipe.events:
                _collect(ev, result)
            try:
                pipe.call("Browser.close")
            except (RuntimeError, TimeoutError, OSError):
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
            os.close(to_w)
            os.close(from_r)
    return result


def _collect(ev: dict, result: PageResult) -> None:
    method, params = ev.get("method"), ev.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        result.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
    elif method == "Runtime.exceptionThrown":
        result.exceptions.append(params.get("exceptionDetails", {}).get("text", "exception"))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        result.log_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    elif method == "Network.requestWillBeSent":
        result.requests.append(params.get("request", {}).get("url", ""))
    elif method == "Network.loadingFailed":
        result.failed_requests.append(f"{params.get('errorText')} ({params.get('type')})")

"""The probe stream: tiny requests (1 output token) at a fixed rate beside the load, counted apart.

Open loop: a probe leaves every 1/rate seconds whether or not the previous one
has answered, so an outage's start and end are each known to about 1/rate.
Each probe carries an `X-Request-Id` starting `ft-probe-`, which the request
join recognises. Records go to `probe/probe.log.txt` in the legacy client's
format (one line per probe, one attempt each), read back by `iter_legacy`.

The stream runs in a child process of its own (`python -m runner.load.probe`):
on the runner's event loop, the work the runner does around a fault (evidence,
restarts, health polls) delayed probes by over 100 ms, the very resolution
the stream is for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import uuid
from pathlib import Path

import aiohttp

from runner.load.legacy import single_attempt
from runner.core.procs import die_with_parent
from runner.results.observe import iso_from_ns
from runner.results.records import LegacyLine, Record, iter_legacy, legacy_encoder
from runner.results.request_join import PROBE_ID_PREFIX

PROBE_DIR = "probe"
PROBE_FILE = "probe.log.txt"
PROBE_PHASE = "probe"


class ProbeLoop:
    """The stream itself (runs in the child process)."""

    def __init__(self, endpoint: str, model: str, rate_per_s: float, max_requests: int, max_duration_s: float,
                 request_timeout_s: float, out_dir: Path):
        self.url = endpoint.rstrip("/") + "/v1/chat/completions"
        self.body = {"model": model, "messages": [{"role": "user", "content": "probe"}], "max_tokens": 1}
        self.interval_s = 1.0 / rate_per_s
        self.max_requests, self.max_duration_s = max_requests, max_duration_s
        self.timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self.path = out_dir / PROBE_DIR / PROBE_FILE

    async def run(self, stop: asyncio.Event) -> None:
        """Send probes until `stop` is set, max_requests were sent or max_duration_s passed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        began = loop.time()
        in_flight: set[asyncio.Task] = set()
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            with self.path.open("ab") as log:
                for n in range(self.max_requests):
                    if stop.is_set() or loop.time() - began > self.max_duration_s:
                        break
                    task = asyncio.create_task(self._probe(session, n, log))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    await _sleep_until(began + (n + 1) * self.interval_s, stop)
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _probe(self, session: aiohttp.ClientSession, n: int, log) -> None:
        request_id = f"{PROBE_ID_PREFIX}{n}-{uuid.uuid4().hex[:12]}"
        attempt = await single_attempt(session, self.url, self.body, request_id, streaming=False,
                                       timeout_s=self.timeout.total)
        line = LegacyLine(time=iso_from_ns(time.time_ns()), results=[attempt],
                          total_time=attempt.request_elapsed_time, request_index=n)
        log.write(legacy_encoder.encode(line) + b"\n")


class ProbeStream:
    """The runner's handle on the probe child process: same arguments, records read back from its file."""

    def __init__(self, endpoint: str, model: str, rate_per_s: float, max_requests: int, max_duration_s: float,
                 request_timeout_s: float, out_dir: Path):
        self.args = ["--url", endpoint, "--model", model, "--rate", f"{rate_per_s:g}", "--max-requests",
                     str(max_requests), "--max-duration", f"{max_duration_s:g}", "--timeout",
                     f"{request_timeout_s:g}", "--out", str(out_dir)]
        self.path = out_dir / PROBE_DIR / PROBE_FILE

    async def run(self, stop: asyncio.Event) -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "runner.load.probe", *self.args,
                                                    stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
        try:
            waiting = asyncio.create_task(stop.wait())
            await asyncio.wait({waiting, asyncio.create_task(proc.wait())}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                await proc.wait()

    def records(self) -> list[Record]:
        if not self.path.exists():
            return []
        return list(iter_legacy(self.path, client=PROBE_PHASE, phase=PROBE_PHASE))


async def _sleep_until(deadline: float, stop: asyncio.Event) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay <= 0:
        return
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        pass


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await ProbeLoop(args.url, args.model, args.rate, args.max_requests, args.max_duration, args.timeout,
                    Path(args.out)).run(stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runner.load.probe", description=__doc__.splitlines()[0])
    for flag, kind in (("--url", str), ("--model", str), ("--rate", float), ("--max-requests", int),
                       ("--max-duration", float), ("--timeout", float), ("--out", str)):
        parser.add_argument(flag, type=kind, required=True)
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

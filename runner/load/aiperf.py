"""aiperf as the load generator, run as a subprocess (it has no stable library API).

Layout: per-client mode runs one aiperf process per client into the seed's
`client_N/attempt_M/`; pooled mode runs one process with `--concurrency N`
into `client_pool/attempt_M/` (aiperf's own cost is ~10 s and ~300 MiB per
process, so pooled is the cheap default). aiperf never retries: failures do not
pay a request off, so a next attempt sends exactly the count owed when it is
launched, and it is launched ahead of time (see `_client`). `--request-rate` with a constant
arrival pattern is always set: without it aiperf's scheduler spins a core.

The export `profile_export.jsonl` is written live; it is tailed for progress
and for the first successful request, which times the fault.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner.core.errors import UserError
from runner.core.procs import die_with_parent
from runner.load.base import LoadSpec, Progress
from runner.load.hf_view import ensure_view
from runner.results.records import MalformedExport, Record, iter_aiperf_lines, load_tree

TAIL_PERIOD_S = 0.25
STARTUP_ALLOWANCE_S = 90.0  # aiperf takes ~10 s to its first request on 2 cores; much more under load
PREWARM_LEAD_S = 20.0  # start the next attempt at the latest this long before the running one's last request
PREWARM_MARGIN = 1.2  # ... or this many times the first attempt's start-up, once measured
RECOVERED_AFTER_SUCCESSES = 5
GATE_POLL_S = 0.02
DEFAULT_DATASET_ENTRIES = 100
TIMING_MANAGER_TITLE = b"aiperf timing_manager"
TIMING_MANAGER_REGISTERED = b"Registered Timing Manager"
PROFILING_STARTED = b"Phase profiling (profiling) started"
CONFIGURED = b"AIPerf System is CONFIGURED"


def aiperf_executable() -> Path:
    exe = Path(sys.executable).with_name("aiperf")
    if not exe.exists():
        raise UserError(
            "aiperf is not installed in this environment; `pip install aiperf==0.13.0` (make setup does), "
            "or run with --client legacy"
        )
    return exe


def aiperf_command(spec: LoadSpec, artifact_dir: Path, concurrency: int, rate: float, count: int,
                   tokenizer: str | None = None) -> list[str]:
    cmd = [
        str(aiperf_executable()), "profile",
        "--model", spec.model,
        "--tokenizer", tokenizer or spec.tokenizer,
        "--endpoint-type", "chat",
        "--concurrency", str(concurrency),
        "--request-rate", f"{rate:g}",
        "--arrival-pattern", "constant",
        "--request-count", str(count),
        "--isl", str(spec.input_tokens), "--isl-stddev", "0",
        "--osl", str(spec.output_tokens), "--osl-stddev", "0",
        "--use-legacy-max-tokens",
        "--extra-inputs", "ignore_eos:true",
        "--request-timeout-seconds", f"{spec.request_timeout_s:g}",
        "--random-seed", str(spec.seed),
        # aiperf generates 100 prompts by default; an attempt for a few owed requests needs only as
        # many, and generating them is most of a loaded machine's start-up
        "--num-dataset-entries", str(min(count, DEFAULT_DATASET_ENTRIES)),
        # prompts of tokens drawn from the vocabulary (vLLM bench's random dataset): the default corpus
        # tokenizes 5 MB of text first, ~2 s of every start
        "--prompt-corpus", "random",
        "--no-server-metrics", "--no-gpu-telemetry",
        "--ui", "none",
        "--artifact-dir", str(artifact_dir),
    ]
    for url in spec.endpoints:
        cmd += ["--url", url]
    if spec.streaming:
        cmd.append("--streaming")
    return cmd


def aiperf_tokenizer(tokenizer: str) -> tuple[str, dict[str, str]]:
    """The --tokenizer aiperf is given and the environment it needs: a local directory becomes a
    cached hub repository read offline (see hf_view); a hub id is left to aiperf's own cache."""
    if not Path(tokenizer).is_dir():
        return tokenizer, {}
    repo, cache = ensure_view(Path(tokenizer))
    return repo, {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}


def _aiperf_env(tokenizer_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # aiperf 0.13.0 refuses a local tokenizer path as an invalid hub id when offline is set
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env | tokenizer_env


class AiperfLoad:
    def __init__(self, spec: LoadSpec, out_dir: Path, phase: str = "load"):
        self.spec = spec
        self.out_dir = out_dir
        self.phase = phase
        self.progress = Progress()
        self._procs: set[asyncio.subprocess.Process] = set()
        self._first: dict[str, _Attempt] = {}
        self._launched: list[_Attempt] = []
        self._exiting: list[asyncio.Task] = []  # attempts with every record in, writing aiperf's summaries

    def _client_plan(self) -> list[tuple[str, int, float, int]]:
        """(name, concurrency, rate, requests owed) of each aiperf client."""
        spec = self.spec
        if spec.aiperf_mode == "pooled":
            return [("client_pool", spec.clients, spec.request_rate_per_client * spec.clients,
                     spec.clients * spec.requests_per_client)]
        return [(f"client_{i}", 1, spec.request_rate_per_client, spec.requests_per_client) for i in range(spec.clients)]

    async def prepare(self) -> None:
        """Start every client's first aiperf process now, held before its first request until `run()`:
        its ~10 s start-up then overlaps the deployment's readiness wait."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        loop_time = asyncio.get_running_loop().time()
        for name, concurrency, rate, count in self._client_plan():
            if name not in self._first:
                deadline = loop_time + self.spec.max_duration_s + STARTUP_ALLOWANCE_S
                self._first[name] = self._launch(name, 0, concurrency, rate, count, deadline - loop_time)

    async def run(self) -> None:
        try:
            await self.prepare()
            for attempt in self._first.values():
                attempt.gate.open()
            await asyncio.gather(*(self._client(name, concurrency, rate, count)
                                   for name, concurrency, rate, count in self._client_plan()))
        finally:
            await self._stop_all()

    def starting(self) -> bool:
        """An aiperf process of this load is still configuring: its start-up keeps a core busy for seconds."""
        return any(not a.done and not a.configured() for a in self._launched)

    def records(self) -> list[Record]:
        return load_tree(self.out_dir, self.phase)

    async def _client(self, name: str, concurrency: int, rate: float, count: int) -> None:
        """Attempts until every request is paid off by a success (or the attempts or the time run out).

        aiperf needs ~10 s to start. The next attempt is therefore started ahead of time, for the
        requests owed so far, held before its first request (its timing manager stopped), and let go
        as the running attempt sends its last request: no idle gap, no overlap. Failures that come
        after it was started are owed to the one after it.
        """
        deadline = asyncio.get_running_loop().time() + self.spec.max_duration_s
        attempts: list[_Attempt] = [self._first[name]]
        try:
            await self._pay_off(name, concurrency, rate, count, deadline, attempts)
        finally:
            self._exiting += [a.task for a in attempts if a.task and not a.task.done() and a.sent_all()]
            pending = [a.task for a in attempts if a.task and not a.task.done() and not a.sent_all()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _pay_off(self, name: str, concurrency: int, rate: float, count: int, deadline: float,
                       attempts: list[_Attempt]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for failed in (a.task for a in attempts if a.task.done() and a.task.exception() is not None):
                raise failed.exception()
            running = [a for a in attempts if not a.done and not a.sent_all()]
            owed = count - sum(a.tail.successes for a in attempts) - sum(a.unfinished() for a in running)
            if not running and (owed <= 0 or len(attempts) >= self.spec.max_attempts or loop.time() >= deadline):
                break
            held = running[-1] if len(running) > 1 and not running[-1].gate.is_open else None
            if owed > 0 and held is not None and loop.time() < deadline:
                await self._enlarge(held, attempts, held.count + owed, deadline - loop.time())
                continue
            if owed > 0 and len(attempts) < self.spec.max_attempts and loop.time() < deadline \
                    and _next_is_due(running, rate, attempts[0].startup_ns()):
                attempts.append(self._launch(name, len(attempts), concurrency, rate, owed, deadline - loop.time()))
            _let_go(attempts, rate)
            await asyncio.sleep(TAIL_PERIOD_S)

    async def _enlarge(self, held: _Attempt, attempts: list[_Attempt], count: int, remaining_s: float) -> None:
        """More requests became owed (failure records arrive late) while the next attempt waits, held, for
        the running one's last request: start it afresh for all of them now rather than a further attempt
        (another ~10 s aiperf start-up) after it."""
        if held.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(held.proc.pid, signal.SIGKILL)
        await asyncio.gather(held.task, return_exceptions=True)
        shutil.rmtree(held.artifact_dir, ignore_errors=True)
        index = attempts.index(held)
        name = held.artifact_dir.parent.name
        attempts[index] = self._launch(name, index, held.concurrency, held.rate, count, remaining_s)

    def _launch(self, name: str, index: int, concurrency: int, rate: float, count: int,
                remaining_s: float) -> _Attempt:
        artifact_dir = self.out_dir / name / f"attempt_{index}"
        artifact_dir.mkdir(parents=True, exist_ok=True)
        bound = min(remaining_s, count / rate + self.spec.request_timeout_s + STARTUP_ALLOWANCE_S)
        attempt = _Attempt(count=count, tail=_ExportTail(artifact_dir / "profile_export.jsonl", self.progress),
                           artifact_dir=artifact_dir, concurrency=concurrency, rate=rate)
        self._launched.append(attempt)
        attempt.task = asyncio.create_task(self._attempt(attempt, bound))
        return attempt

    async def _attempt(self, attempt: _Attempt, bound_s: float) -> None:
        tokenizer, tokenizer_env = aiperf_tokenizer(self.spec.tokenizer)
        cmd = aiperf_command(self.spec, attempt.artifact_dir, attempt.concurrency, attempt.rate, attempt.count,
                             tokenizer)
        attempt.launched_ns = time.time_ns()
        with (attempt.artifact_dir / "genai_perf.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=_aiperf_env(tokenizer_env), preexec_fn=die_with_parent,
            )
        self._procs.add(proc)
        attempt.proc = proc
        holding = asyncio.create_task(attempt.gate.hold(proc, attempt.aiperf_log))
        tail_task = asyncio.create_task(attempt.tail.follow(proc))
        watching = asyncio.create_task(_watch_configured(attempt, proc))
        try:
            await attempt.gate.wait_open(proc)
            attempt.code = await asyncio.wait_for(proc.wait(), bound_s)
        except TimeoutError:
            attempt.code = await _interrupt(proc)
        finally:
            self._procs.discard(proc)
            holding.cancel()
            watching.cancel()
        await tail_task
        attempt.done = True

    async def discard(self) -> None:
        """Stop processes started by prepare() whose load will never run (the deployment did not come up),
        and wait for those of run() that are still writing aiperf's summaries (~1 s after the last record,
        which run() does not wait for: collection and teardown overlap it)."""
        for attempt in self._first.values():
            if not attempt.gate.is_open and attempt.task is not None:
                attempt.task.cancel()
        await self._kill_held(exclude=self._exiting_procs())
        await asyncio.gather(*(a.task for a in self._first.values() if a.task), *self._exiting,
                             return_exceptions=True)

    def _exiting_procs(self) -> set[asyncio.subprocess.Process]:
        return {a.proc for a in self._launched if a.task in self._exiting}

    async def _kill_held(self, exclude: set[asyncio.subprocess.Process] = frozenset()) -> None:
        for proc in list(self._procs - exclude):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def _stop_all(self) -> None:
        for proc in list(self._procs - self._exiting_procs()):
            await _interrupt(proc)


async def _interrupt(proc: asyncio.subprocess.Process) -> int:
    """SIGINT lets aiperf write its summary; SIGKILL the whole group if it does not stop."""
    if proc.returncode is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return await proc.wait()


async def _watch_configured(attempt: _Attempt, proc: asyncio.subprocess.Process) -> None:
    """Stamp when the attempt is configured, held or not: its start-up excludes the time held after."""
    while proc.returncode is None and not attempt.configured():
        await asyncio.sleep(TAIL_PERIOD_S)


def _next_is_due(running: list[_Attempt], rate: float, startup_ns: int | None = None) -> bool:
    """Start the next attempt when none runs; else once the running one's latest requests succeed again
    (the owed count is then final, barring a second outage), or at the latest one aiperf start-up
    (`startup_ns`, as the first attempt took; PREWARM_LEAD_S until known) before it sends its last request."""
    if not running:
        return True
    current = running[-1]
    last_send_ns = current.last_send_ns(rate)
    if last_send_ns is None:
        return False
    recovered = current.tail.settled_successes(rate) >= RECOVERED_AFTER_SUCCESSES
    lead_ns = int(startup_ns * PREWARM_MARGIN) if startup_ns else int(PREWARM_LEAD_S * 1e9)
    return recovered or time.time_ns() >= last_send_ns - lead_ns


def _let_go(attempts: list[_Attempt], rate: float) -> None:
    """Open each held attempt's gate once the attempt before it is done or sends its last request."""
    for before, after in zip(attempts, attempts[1:]):
        if after.gate.is_open:
            continue
        last_send_ns = before.last_send_ns(rate)
        if before.done or (last_send_ns is not None and time.time_ns() >= last_send_ns):
            after.gate.open()


class _Gate:
    """Holds an aiperf process before its first request: its timing manager (the service that issues
    requests) is stopped with SIGSTOP once it has registered with aiperf's controller, and continued by
    open(). Configuration (tokenizer, dataset) proceeds meanwhile; once open, requests flow within ~0.1 s.
    Stopped before it registers, it would hold the configuration back too (aiperf configures only
    after every service has registered)."""

    def __init__(self):
        self.is_open = False
        self.opened_ns: int | None = None
        self._opened = asyncio.Event()
        self._stopped_pid: int | None = None

    def open(self) -> None:
        if not self.is_open:
            self.opened_ns = time.time_ns()
        self.is_open = True
        self._opened.set()
        if self._stopped_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._stopped_pid, signal.SIGCONT)

    async def hold(self, proc: asyncio.subprocess.Process, aiperf_log: Path) -> None:
        while not self.is_open and proc.returncode is None:
            pid = _timing_manager_pid(proc.pid) if _registered(aiperf_log) else None
            if pid is not None:
                # no await between the check of is_open and the SIGSTOP: open() cannot slip in between
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    self._stopped_pid = pid
                return
            await asyncio.sleep(GATE_POLL_S)

    async def wait_open(self, proc: asyncio.subprocess.Process) -> None:
        exited = asyncio.create_task(proc.wait())
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait({exited, opened}, return_when=asyncio.FIRST_COMPLETED)
        for task in (exited, opened):
            task.cancel()


def _registered(aiperf_log: Path) -> bool:
    """The timing manager has registered, and profiling has not started yet."""
    try:
        text = aiperf_log.read_bytes()
    except OSError:
        return False
    return TIMING_MANAGER_REGISTERED in text and PROFILING_STARTED not in text


def _timing_manager_pid(process_group: int) -> int | None:
    """The aiperf service that issues the requests, among the processes of one aiperf run."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != process_group:
                continue
            if (stat.parent / "cmdline").read_bytes().startswith(TIMING_MANAGER_TITLE):
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


@dataclass
class _Attempt:
    """One aiperf process of a client: how many requests it was given and what its export shows so far."""

    count: int
    tail: _ExportTail
    artifact_dir: Path
    concurrency: int = 1
    rate: float = 1.0
    task: asyncio.Task | None = None
    proc: asyncio.subprocess.Process | None = None
    gate: _Gate = field(default_factory=_Gate)
    launched_ns: int | None = None
    code: int = -1
    done: bool = False
    configured_ns: int | None = None  # when configured() first saw it configured (polled)

    @property
    def aiperf_log(self) -> Path:
        return self.artifact_dir / "logs" / "aiperf.log"

    def configured(self) -> bool:
        if self.configured_ns is None:
            with contextlib.suppress(OSError):
                if CONFIGURED in self.aiperf_log.read_bytes():
                    self.configured_ns = time.time_ns()
        return self.configured_ns is not None

    def startup_ns(self) -> int | None:
        """aiperf's start-up: launch to first request, less the time the gate held it once configured."""
        if self.launched_ns is None or self.tail.first_start_ns is None:
            return None
        opened = self.gate.opened_ns
        if self.configured_ns is not None and opened is not None and opened > self.configured_ns:
            return self.configured_ns - self.launched_ns + (self.tail.first_start_ns - opened)
        return self.tail.first_start_ns - self.launched_ns

    def unfinished(self) -> int:
        return max(0, self.count - self.tail.completed)

    def sent_all(self) -> bool:
        """Every request has its record in the export: what is left of the process is aiperf's own exit."""
        return self.gate.is_open and self.tail.completed >= self.count

    def last_send_ns(self, rate: float) -> int | None:
        """When this attempt sends its last request (constant arrivals at `rate`)."""
        if self.tail.first_start_ns is None:
            return None
        return self.tail.first_start_ns + int((self.count - 1) / rate * 1e9)


class _ExportTail:
    """Reads new complete lines of a live aiperf export as they appear."""

    def __init__(self, path: Path, progress: Progress):
        self.path = path
        self.progress = progress
        self.offset = 0
        self.successes = 0
        self.completed = 0
        self.outcomes: list[tuple[int, bool]] = []  # (start, ok) of every completed request, by start
        self.first_start_ns: int | None = None

    async def follow(self, proc: asyncio.subprocess.Process) -> None:
        while proc.returncode is None:
            self._read_new()
            await asyncio.sleep(TAIL_PERIOD_S)
        self._read_new()

    def _read_new(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        if not complete:
            return
        self.offset += len(complete)
        try:
            for record in iter_aiperf_lines(complete.splitlines(keepends=True), str(self.path)):
                self.progress.add(record)
                self.successes += record.ok
                self.completed += 1
                bisect.insort(self.outcomes, (record.start_ns, record.ok))
                if self.first_start_ns is None or record.start_ns < self.first_start_ns:
                    self.first_start_ns = record.start_ns
        except MalformedExport:
            pass  # the full read after the run reports it with the right line number

    def settled_successes(self, rate: float) -> int:
        """Successes in a row, in sending order, ending at the last request before the first one without a
        record yet. aiperf writes records late and out of order under load: a request sent before a run of
        successes may still fail, and counting by the export's order would then owe one request too few."""
        if self.first_start_ns is None:
            return 0
        run = 0
        for index, (start_ns, ok) in enumerate(self.outcomes):
            if round((start_ns - self.first_start_ns) / 1e9 * rate) > index:
                break  # a request sent before this one has no record yet
            run = run + 1 if ok else 0
        return run

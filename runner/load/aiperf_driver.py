"""aiperf as the load generator, run as a subprocess (it has no stable library API).

Layout: per-client mode runs one aiperf process per client into the seed's
`client_N/attempt_M/`; pooled mode runs one process with `--concurrency N`
into `client_pool/attempt_M/` (aiperf's own cost is ~10 s and ~300 MiB per
process, so pooled is the cheap default). aiperf never retries: when an
attempt ends with requests still owed (failures do not pay a request off), the
next attempt sends exactly the owed count. `--request-rate` with a constant
arrival pattern is always set: without it aiperf's scheduler spins a core.

The export `profile_export.jsonl` is written live; it is tailed for progress
and for the first successful request, which times the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from runner.errors import UserError
from runner.procs import die_with_parent
from runner.load.base import LoadSpec, Progress
from runner.records import MalformedExport, Record, iter_aiperf, iter_aiperf_lines

TAIL_PERIOD_S = 0.25
STARTUP_ALLOWANCE_S = 90.0  # aiperf takes ~10 s to its first request on 2 cores; much more under load


def aiperf_executable() -> Path:
    exe = Path(sys.executable).with_name("aiperf")
    if not exe.exists():
        raise UserError(
            "aiperf is not installed in this environment; `pip install aiperf==0.13.0` (make setup does), "
            "or run with --client legacy"
        )
    return exe


def aiperf_command(spec: LoadSpec, artifact_dir: Path, concurrency: int, rate: float, count: int) -> list[str]:
    cmd = [
        str(aiperf_executable()), "profile",
        "--model", spec.model,
        "--tokenizer", spec.tokenizer,
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
        "--no-server-metrics", "--no-gpu-telemetry",
        "--ui", "none",
        "--artifact-dir", str(artifact_dir),
    ]
    for url in spec.endpoints:
        cmd += ["--url", url]
    if spec.streaming:
        cmd.append("--streaming")
    return cmd


def _aiperf_env() -> dict[str, str]:
    env = dict(os.environ)
    # aiperf 0.13.0 treats a local tokenizer path as a hub id when HF_HUB_OFFLINE is set
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class AiperfLoad:
    def __init__(self, spec: LoadSpec, out_dir: Path, phase: str = "load"):
        self.spec = spec
        self.out_dir = out_dir
        self.phase = phase
        self.progress = Progress()
        self._procs: set[asyncio.subprocess.Process] = set()
        self.attempt_exit_codes: dict[str, list[int]] = {}

    async def run(self) -> None:
        spec = self.spec
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            if spec.aiperf_mode == "pooled":
                await self._client("client_pool", spec.clients, spec.rate_per_client * spec.clients,
                                   spec.clients * spec.requests_per_client)
            else:
                await asyncio.gather(*(
                    self._client(f"client_{i}", 1, spec.rate_per_client, spec.requests_per_client)
                    for i in range(spec.clients)
                ))
        finally:
            await self._stop_all()

    def records(self) -> list[Record]:
        out: list[Record] = []
        for export in sorted(self.out_dir.glob("client_*/attempt_*/profile_export.jsonl")):
            attempt = int(export.parent.name.split("_")[-1])
            out.extend(iter_aiperf(export, client=export.parent.parent.name, attempt=attempt, phase=self.phase))
        return out

    async def _client(self, name: str, concurrency: int, rate: float, count: int) -> None:
        owed = count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.max_duration_s
        for attempt in range(self.spec.max_attempts):
            remaining = deadline - loop.time()
            if owed <= 0 or remaining <= 0:
                return
            artifact_dir = self.out_dir / name / f"attempt_{attempt}"
            artifact_dir.mkdir(parents=True, exist_ok=True)
            bound = min(remaining, owed / rate + self.spec.request_timeout_s + STARTUP_ALLOWANCE_S)
            code, successes = await self._attempt(artifact_dir, concurrency, rate, owed, bound)
            self.attempt_exit_codes.setdefault(name, []).append(code)
            owed -= successes

    async def _attempt(self, artifact_dir: Path, concurrency: int, rate: float, count: int,
                       bound_s: float) -> tuple[int, int]:
        cmd = aiperf_command(self.spec, artifact_dir, concurrency, rate, count)
        with (artifact_dir / "genai_perf.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=_aiperf_env(), preexec_fn=die_with_parent,
            )
        self._procs.add(proc)
        tail = _ExportTail(artifact_dir / "profile_export.jsonl", self.progress)
        tail_task = asyncio.create_task(tail.follow(proc))
        try:
            code = await asyncio.wait_for(proc.wait(), bound_s)
        except TimeoutError:
            code = await _interrupt(proc)
        finally:
            self._procs.discard(proc)
        await tail_task
        return code, tail.successes

    async def _stop_all(self) -> None:
        for proc in list(self._procs):
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


class _ExportTail:
    """Reads new complete lines of a live aiperf export as they appear."""

    def __init__(self, path: Path, progress: Progress):
        self.path = path
        self.progress = progress
        self.offset = 0
        self.successes = 0

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
        except MalformedExport:
            pass  # the full read after the run reports it with the right line number

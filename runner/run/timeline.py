"""The scenario's timeline under load: each step in turn (start or stop the load, a fault, a wait), with its
own stamps and evidence in Observed.steps. The scenario's first fault is also Observed.fault, the one
the catalog's tables and checks read."""

from __future__ import annotations

import asyncio
import logging
import time

from runner.core.timeline import FaultStep, LoadStep, Step, WaitStep
from runner.faults import get as get_fault
from runner.load.base import Load
from runner.platforms.base import Deployment, PlatformError
from runner.results.observe import iso_from_ns
from runner.run.fault_step import run_fault
from runner.run.observed import Observed, StepRecord
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")
POLL_S = 0.1


def describe(step: Step) -> str:
    if isinstance(step, LoadStep):
        return f"load {step.load}"
    if isinstance(step, FaultStep):
        return f"fault {step.fault} -> {'replica ' + str(step.target) if isinstance(step.target, int) else step.target}"
    if isinstance(step.wait, float):
        return f"wait {step.wait:g} s"
    extra = {"first_success": f" + {step.delay_s:g} s" if step.delay_s else "", "ready": f" ({step.role})",
             "recovered": f" ({step.successes} in a row)" if step.successes else ""}[step.wait]
    return f"wait {step.wait.replace('_', ' ')}{extra}"


class TimelineRun:
    """One scenario's steps against its deployment and load."""

    def __init__(self, scenario: Scenario, deployment: Deployment, load: Load, ui: ProgressUI, observed: Observed):
        self.scenario, self.deployment, self.load, self.ui, self.observed = scenario, deployment, load, ui, observed
        self.load_task: asyncio.Task | None = None
        self.stopped = False
        self.faults_run = 0
        self.last_fault_ns: int | None = None

    async def run(self) -> None:
        for index, step in enumerate(self.scenario.steps):
            record = StepRecord(index=index, kind=_kind(step), text=describe(step), started_ns=time.time_ns())
            self.observed.steps.append(record)
            if len(self.scenario.steps) > 1:
                log.info("Step %d: %s", index + 1, record.text)
            try:
                await self._run_step(step, record)
            finally:
                record.ended_ns = time.time_ns()
                if record.fault is not None and self.observed.fault is None:
                    self.observed.fault, self.observed.evidence = record.fault, record.evidence

    async def _run_step(self, step: Step, record: StepRecord) -> None:
        if isinstance(step, LoadStep):
            await (self._start_load() if step.load == "start" else self._stop_load())
        elif isinstance(step, FaultStep):
            await self._fault(step, record)
        else:
            record.met, record.detail = await self._wait(step)

    async def _start_load(self) -> None:
        if self.load_task is None:
            self.load_task = asyncio.create_task(self.load.run())

    async def _stop_load(self) -> None:
        if self.load_task is not None and not self.load_task.done():
            self.stopped = True
            self.load_task.cancel()
            await asyncio.gather(self.load_task, return_exceptions=True)

    async def _fault(self, step: FaultStep, record: StepRecord) -> None:
        if self.load_task is not None and self.load_task.done() and not self.stopped:
            raise PlatformError(f"the load finished before step {record.index + 1} ({record.text}); raise "
                                "--requests-per-client or lower --inject-after")
        await run_fault(self.scenario, self.deployment, self.ui, record, get_fault(step.fault), step.target,
                        self.faults_run)
        self.faults_run += 1
        self.last_fault_ns = record.fault.injected_ns if record.fault else None

    async def _wait(self, step: WaitStep) -> tuple[bool, str]:
        if isinstance(step.wait, float):
            await asyncio.sleep(step.wait)
            return True, f"waited {step.wait:g} s"
        if step.wait == "first_success":
            return await self._first_success(step)
        condition = self._recovered(step) if step.wait == "recovered" else self._ready(step)
        deadline = time.monotonic() + step.timeout_s
        while time.monotonic() < deadline:
            met, detail = await condition()
            if met:
                return True, detail
            if self._load_ended():
                return False, f"the load ended first ({detail})"
            await asyncio.sleep(POLL_S)
        return False, f"not within {step.timeout_s:g} s ({detail})"

    async def _first_success(self, step: WaitStep) -> tuple[bool, str]:
        got = asyncio.create_task(self.load.progress.first_success.wait())
        waiting = {got} | ({self.load_task} if self.load_task else set())
        done, _ = await asyncio.wait(waiting, timeout=step.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if got not in done:
            got.cancel()
            if self.load_task is not None and self.load_task in done:
                raise PlatformError("the load ended without a single successful request; the fault was not injected")
            return False, f"no success within {step.timeout_s:g} s"
        first = self.load.progress.first_success_ns
        due_ns = first + int(step.delay_s * 1e9)
        log.info("First successful request at %s; next step due at %s", iso_from_ns(first), iso_from_ns(due_ns))
        await asyncio.sleep(max(0.0, (due_ns - time.time_ns()) / 1e9))
        return True, f"first success at {iso_from_ns(first)}"

    def _recovered(self, step: WaitStep):
        wanted = step.successes or self.scenario.config.checks.consecutive_successes
        since = self.last_fault_ns or 0

        async def check() -> tuple[bool, str]:
            run = self.load.progress.successes_in_a_row(since)
            return run >= wanted, f"{run} of {wanted} successes in a row since the last fault"
        return check

    def _ready(self, step: WaitStep):
        async def check() -> tuple[bool, str]:
            names = self.deployment.replicas(step.role)
            states = await self.deployment.snapshot(step.role, names, None)
            ready = sum(1 for s in states if s.get("ready"))
            return bool(names) and ready == len(names), f"{ready} of {len(names)} {step.role} replicas ready"
        return check

    def _load_ended(self) -> bool:
        return self.load_task is not None and self.load_task.done()

    async def finish_load(self) -> None:
        """The load runs out by itself after the last step (bounded by its own duration limit)."""
        if self.load_task is not None and not self.load_task.cancelled():
            await self.load_task

    async def cancel(self) -> None:
        if self.load_task is not None and not self.load_task.done():
            self.load_task.cancel()
            await asyncio.gather(self.load_task, return_exceptions=True)


def _kind(step: Step) -> str:
    return "load" if isinstance(step, LoadStep) else "fault" if isinstance(step, FaultStep) else "wait"

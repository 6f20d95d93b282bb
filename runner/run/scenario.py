"""run_scenario(): the timeline of one scenario, and nothing else (DESIGN §1).

plan -> deploy -> ready (startup) -> observe -> load -> fault at T after the
first success -> verify -> drain -> collect -> analyze -> validate -> report.
Every stamp is the runner's UTC clock in epoch ns. Whatever happens, the
deployment is torn down and what was measured stays on disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from runner.core.errors import UserError
from runner.load.base import Load
from runner.platforms.base import Deployment, Platform, PlatformError
from runner.faults.token_overflow import judge_overflow
from runner.results.frontend_log import read_tree_logs
from runner.results.observe import FRONTEND_MIGRATIONS, tree_counter_total
from runner.results.records import MalformedExport, Record
from runner.results.summary import FaultRecord, ScenarioSummary
from runner.run.files import write_json
from runner.run.finish import finish
from runner.run.loads import (
    PRESTART_LEAD_S,
    NextLoad,
    Prestarts,
    deployment_load_spec,
    make_load,
    probe_stream,
    seconds_of_load_left,
)
from runner.run.observed import Observed
from runner.run.timeline import TimelineRun
from runner.run.server_step import await_drains
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")


OVERFLOW_PHASE_REQUESTS = 15
PRESTART_POLL_S = 0.5


async def run_scenario(scenario: Scenario, platform: Platform, tree: Path, run_id: str, ui: ProgressUI,
                       loads: Prestarts | None = None) -> tuple[ScenarioSummary, list[Record]]:
    """One scenario's timeline; returns its summary and the records it was computed from.
    `loads`: this scenario's load generator when it was started ahead, and the next one's to start."""
    tree.mkdir(parents=True, exist_ok=True)
    handler = _attach_test_log(tree / "test.log.txt")
    started = time.time_ns()
    write_json(tree / "scenario.json", _scenario_dict(scenario, run_id))
    log.info("Scenario %s on %s (run %s)", scenario.name, scenario.platform, run_id)
    observed = Observed()
    try:
        try:
            await _execute(scenario, platform, tree, ui, observed, loads or Prestarts())
        except asyncio.CancelledError:
            observed.errors.append("interrupted")
            finish(scenario, tree, run_id, started, observed)
            raise
        return finish(scenario, tree, run_id, started, observed), observed.records
    finally:
        log.removeHandler(handler)
        handler.close()


async def _execute(scenario: Scenario, platform: Platform, tree: Path, ui: ProgressUI, observed: Observed,
                   loads: Prestarts) -> None:
    cfg = scenario.config
    deployment = load = None
    applied = time.time_ns()
    try:
        ui.phase("deploying")
        log.info("Starting deployment %s", scenario.entry.deployment_name)
        deployment = await platform.deploy(scenario, tree)
        observed.role_dirs = deployment.role_dirs()
        if not scenario.is_overflow:
            load = await loads.take_mine(deployment)
            if load is not None:
                log.info("Using the load generator started during the previous scenario")
            load = load or make_load(scenario, deployment_load_spec(scenario, deployment), tree)
            await load.prepare()  # the load generator starts up while the deployment does
        await deployment.wait_ready(cfg.deployment.startup_timeout_s)
        observed.startup_s = round((time.time_ns() - applied) / 1e9, 3)
        log.info("Deployment ready: model listed and a probe request succeeded after %.3f s", observed.startup_s)
        ui.phase(f"ready after {observed.startup_s:.2f} s")
        await deployment.start_observing(tree)
        if scenario.is_overflow:
            await _overflow_phases(scenario, deployment, tree, ui, observed)
        else:
            await _load_with_fault(scenario, deployment, load, ui, observed, loads.after)
        await await_drains(scenario, deployment, tree, observed, ui)
        ui.phase("collecting")
        await deployment.stop_observing()
        observed.frontend_requests = await deployment.frontend_request_count()
        observed.restarts = deployment.restarts_observed()
        await deployment.collect(tree)
        observed.server = read_tree_logs(tree)
        observed.migration_metric = tree_counter_total(tree, FRONTEND_MIGRATIONS)
    except (PlatformError, UserError, MalformedExport, OSError) as exc:
        observed.errors.append(str(exc))
        log.error("%s", exc)
        ui.phase(f"[red]error:[/] {exc}")
        if observed.startup_s is None:
            observed.startup_reason = f"not ready: {exc}"
    finally:
        if deployment is not None:
            ui.phase("tearing down")
            try:
                await asyncio.shield(deployment.teardown(cfg.deployment.teardown_timeout_s))
                log.info("Deployment torn down")
            except (PlatformError, TimeoutError) as exc:
                observed.errors.append(f"teardown: {exc}")
        if load is not None:  # after the teardown: aiperf writes its summaries meanwhile
            await asyncio.shield(load.discard())


async def _load_with_fault(scenario: Scenario, deployment: Deployment, load: Load, ui: ProgressUI,
                           observed: Observed, after: NextLoad | None) -> None:
    spec, tree = load.spec, load.out_dir
    total = spec.clients * spec.requests_per_client
    ui.phase(f"load: {spec.clients} {scenario.load.client} client(s) x {spec.requests_per_client} requests")
    log.info("Starting load: %s", json.dumps(spec.__dict__, default=str))
    probe, stop_probe = probe_stream(scenario, deployment, tree), asyncio.Event()
    timeline = TimelineRun(scenario, deployment, load, ui, observed)
    async with ui.counting("load", load.progress, total):
        probing = asyncio.create_task(probe.run(stop_probe)) if probe else None
        prestarting = None
        try:
            await timeline.run()
            if after is not None and timeline.load_task is not None:
                prestarting = asyncio.create_task(_prestart_when_due(load, timeline.load_task, after))
            await timeline.finish_load()
        finally:
            await timeline.cancel()
            if prestarting is not None and not prestarting.done():
                prestarting.cancel()
                await asyncio.gather(prestarting, return_exceptions=True)
            stop_probe.set()
            if probing is not None:
                await asyncio.gather(probing, return_exceptions=True)
                observed.probe_records = probe.records()
            observed.records = load.records()
    log.info("Load finished: %d ok, %d failed", load.progress.ok, load.progress.failed)


async def _prestart_when_due(load: Load, load_task: asyncio.Task, after: NextLoad) -> None:
    """Start the next scenario's load generator once this load has PRESTART_LEAD_S left to send and none
    of its own generator processes (a retry attempt) is still starting: two start-ups on two cores delay both."""
    while not load_task.done() and (seconds_of_load_left(load) > PRESTART_LEAD_S or load.starting()):
        await asyncio.wait({load_task}, timeout=PRESTART_POLL_S)
    if load_task.done():
        return
    try:
        await after.start()
    except (UserError, OSError) as exc:  # the next scenario then starts its own and reports the error there
        log.warning("could not start the next scenario's load generator ahead: %s", exc)


async def _overflow_phases(scenario: Scenario, deployment: Deployment, tree: Path, ui: ProgressUI,
                           observed: Observed) -> None:
    cfg = scenario.config
    limit = scenario.max_model_len
    requests = min(scenario.load.requests_per_client, OVERFLOW_PHASE_REQUESTS)
    phases = {
        "overflow": deployment_load_spec(scenario, deployment,
                                         input_tokens=int(limit * cfg.fault.overflow_multiplier),
                                         requests_per_client=requests, max_attempts=1),
        "recovery": deployment_load_spec(scenario, deployment,
                                         input_tokens=min(cfg.fault.overflow_recovery_input_tokens, limit // 2),
                                         requests_per_client=requests),
    }
    for phase, spec in phases.items():
        load = make_load(scenario, spec, tree / phase, phase)
        started = time.time_ns()
        if phase == "overflow":
            observed.fault = FaultRecord(name="token_overflow", kind="client", seed=cfg.fault.seed,
                                         injected_ns=started, took_effect=None,
                                         detail=f"{spec.input_tokens}-token prompts against a {limit}-token limit")
        ui.phase(f"{phase} phase: {spec.input_tokens}-token prompts, context limit {limit}")
        log.info("Starting %s phase: ISL %d", phase, spec.input_tokens)
        async with ui.counting(phase, load.progress, spec.clients * spec.requests_per_client):
            await load.run()
        await load.discard()
        observed.phases[phase] = load.records()
        if phase == "overflow":
            rejected = sum(1 for r in observed.phases[phase] if not r.ok and r.status is not None)
            observed.fault.took_effect, seen = judge_overflow(rejected, len(observed.phases[phase]))
            observed.fault.detail += f"; {seen}"
        log.info("Load finished (%s phase): %d ok, %d failed", phase, load.progress.ok, load.progress.failed)
    observed.records = [r for recs in observed.phases.values() for r in recs]


def _scenario_dict(scenario: Scenario, run_id: str) -> dict:
    return {
        "run_id": run_id,
        "name": scenario.name,
        "entry": {k: v for k, v in scenario.entry.__dict__.items()},
        "platform": scenario.platform,
        "load": scenario.load.model_dump(mode="json"),
        "inject_after_s": scenario.inject_after_s,
        "model": scenario.model,
        "migration_limit": scenario.migration_limit,
        "max_model_len": scenario.max_model_len,
        "config": scenario.config.model_dump(mode="json"),
    }


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's API)
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def _attach_test_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(_UTCFormatter("[TEST] %(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


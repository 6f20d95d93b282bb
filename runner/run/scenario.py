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
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner.results.analysis import analyze, analyze_phases, probe_recovery, window
from runner.results.frontend_log import TreeView, read_tree_logs
from runner.results.checks import judge
from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.results.evidence import select_targets
from runner.load.base import LoadSpec, default_max_duration
from runner.results.observe import FRONTEND_MIGRATIONS, iso_from_ns, tree_counter_total
from runner.scenarios.plan import Scenario, Unsupported, plan
from runner.platforms.base import PlatformError
from runner.results.records import MalformedExport, Record
from runner.results.request_join import (
    FrontendFault,
    Join,
    expected_counter_difference,
    join,
    join_lines,
    join_summary,
    migrations,
    replica_traffic,
)
from runner.results.summary import (
    CrossCheck,
    FaultRecord,
    LoadInfo,
    RunScenarioEntry,
    RunSummary,
    ScenarioSummary,
    Timings,
)
from runner.report.tables import group_tables, scenario_table
from runner.run.ui import ProgressUI

log = logging.getLogger("runner")

EXIT_PASS, EXIT_FAIL, EXIT_UPLOAD_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 3, 130  # 2: UserError, in the CLI
OVERFLOW_PHASE_REQUESTS = 15


@dataclass
class Observed:
    """What one scenario run measured, before analysis."""

    startup_s: float | None = None
    startup_reason: str | None = None
    fault: FaultRecord | None = None
    evidence: list[dict] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    probe_records: list[Record] = field(default_factory=list)
    phases: dict[str, list[Record]] = field(default_factory=dict)
    restarts: int = 0
    frontend_requests: int | None = None
    server: TreeView | None = None  # the frontends' request log lines, read from the collected tree
    migration_metric: int | None = None
    errors: list[str] = field(default_factory=list)


def job_run_id() -> str | None:
    """Inside the chart's Job the run id is the Job's name plus the start of its UID (a reinstall
    reuses the name, never the UID). Each index of an Indexed Job is a run of its own, suffixed
    `-i<N>`, so their run-level files (summary, manifest, reports) never overwrite each other."""
    name, uid = os.environ.get("FT_RUNNER_JOB_NAME"), os.environ.get("FT_RUNNER_JOB_UID")
    if not (name and uid):
        return None
    run_id = f"{name[:28].rstrip('-')}-{uid[:8]}".lower()
    index = os.environ.get("FT_RUNNER_SCENARIO_INDEX")
    return f"{run_id}-i{index}" if index and index.isdigit() else run_id


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10000:04d}"


def resolve_scenarios(config: RunConfig) -> list[Scenario]:
    from runner.core.config import DEFAULT_LOCAL_SUITE

    names = config.scenarios or (list(DEFAULT_LOCAL_SUITE) if config.platform == "local" else [])
    if not names:
        raise UserError("no scenario given; pass --scenario NAME (see `ft-runner scenarios --platform kubernetes`)")
    try:
        return [plan(name, config) for name in names]
    except Unsupported as exc:
        raise UserError(f"{exc}; list what this platform runs with `ft-runner scenarios --platform "
                        f"{config.platform}`") from None


def make_platform(config: RunConfig):
    if config.platform == "local":
        from runner.platforms.local.deployment import make_platform as make_local

        return make_local(config)
    from runner.platforms.kubernetes.deployment import make_platform as make_kubernetes

    return make_kubernetes(config)


def run_suite(config: RunConfig, ui: ProgressUI | None = None) -> int:
    """Run every scenario of the config; returns the process exit code."""
    ui = ui or ProgressUI()
    scenarios = resolve_scenarios(config)
    platform = make_platform(config)
    platform.preflight(scenarios)
    run_id = config.run_id or job_run_id() or new_run_id()
    run_dir = config.output / run_id
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} already holds a run; choose another --run-id or --output")
    run_dir.mkdir(parents=True, exist_ok=True)
    run = RunSummary(run_id=run_id, platform=config.platform, started_at=iso_from_ns(time.time_ns()))
    _write_json(run_dir / "summary.json", run.model_dump())
    uploader = _make_uploader(config, run_id, run_dir)
    ui.phase(f"run {run_id}: {len(scenarios)} scenario(s) on the {config.platform} platform -> {run_dir}")
    summaries: list[ScenarioSummary] = []
    records: dict[str, list[Record]] = {}  # read once per scenario, reused by every report
    interrupted = False
    try:
        asyncio.run(_run_all(scenarios, platform, run_dir, run_id, ui, summaries, records, uploader))
    except KeyboardInterrupt:
        interrupted = True
        ui.phase("interrupted: the deployment was torn down; what was measured is kept")
    for s in summaries:
        run.scenarios.append(RunScenarioEntry(scenario=s.scenario, verdict=s.verdict, path=s.scenario))
    passed = all(s.verdict in ("PASS", "EXPECTED-LIMITATION") for s in summaries)
    code = EXIT_INTERRUPTED if interrupted else (EXIT_PASS if passed else EXIT_FAIL)
    run.finished_at, run.exit_code = iso_from_ns(time.time_ns()), code
    _write_json(run_dir / "summary.json", run.model_dump())
    _write_run_reports(run_dir, run, summaries, records, ui)
    if summaries:
        print(group_tables(summaries))
    ui.phase(f"results: {run_dir}  ({sum(s.verdict == 'PASS' for s in summaries)}/{len(summaries)} passed)")
    if uploader is not None:
        report = uploader.final_pass()
        for line in report.lines():
            ui.phase(line)
        if report.ok:
            ui.phase(f"uploaded to {uploader.url()}")
        elif code == EXIT_PASS:
            code = EXIT_UPLOAD_INCOMPLETE
    return code


def _make_uploader(config: RunConfig, run_id: str, run_dir: Path):
    if not config.s3.bucket:
        return None
    from runner.store.s3 import Uploader

    return Uploader(config.s3, run_id, run_dir)


def _write_run_reports(run_dir: Path, run: RunSummary, summaries: list[ScenarioSummary],
                       records: dict[str, list[Record]], ui: ProgressUI) -> None:
    """junit.xml and report.html for the run; a report that cannot be written is said, not fatal."""
    from runner.report.junit import write_junit
    from runner.report.html import write_report

    for writer, args in ((write_junit, (run_dir, run, summaries)),
                         (write_report, (run_dir, run, summaries, records))):
        try:
            writer(*args)
        except (OSError, ValueError) as exc:
            ui.phase(f"[red]could not write {writer.__name__}: {exc}[/]")


def _write_timeline(tree: Path, summary: ScenarioSummary, records: list[Record], ui: ProgressUI) -> None:
    from runner.report.timeline import write_timeline_png

    try:
        write_timeline_png(tree, summary, records)
    except (OSError, ValueError) as exc:
        ui.phase(f"[red]could not write timeline.png: {exc}[/]")


async def _run_all(scenarios: list[Scenario], platform, run_dir: Path, run_id: str, ui: ProgressUI,
                   summaries: list[ScenarioSummary], records: dict[str, list[Record]], uploader) -> None:
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, current.cancel)
    try:
        for i, scenario in enumerate(scenarios, 1):
            ui.scenario(scenario.name, i, len(scenarios))
            summary, records[scenario.name] = await run_scenario(scenario, platform, run_dir / scenario.name,
                                                                 run_id, ui)
            print(scenario_table(summary))
            summaries.append(summary)
            _write_timeline(run_dir / scenario.name, summary, records[scenario.name], ui)
            if uploader is not None:
                report = await asyncio.to_thread(uploader.upload_scenario, run_dir / scenario.name)
                ui.phase(report.lines()[0] + ("" if report.ok else f" ({report.error or 'see the final pass'})"))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


async def run_scenario(scenario: Scenario, platform, tree: Path, run_id: str,
                       ui: ProgressUI) -> tuple[ScenarioSummary, list[Record]]:
    """One scenario's timeline; returns its summary and the records it was computed from."""
    tree.mkdir(parents=True, exist_ok=True)
    handler = _attach_test_log(tree / "test.log.txt")
    started = time.time_ns()
    _write_json(tree / "scenario.json", _scenario_dict(scenario, run_id))
    log.info("Scenario %s on %s (run %s)", scenario.name, scenario.platform, run_id)
    observed = Observed()
    try:
        try:
            await _execute(scenario, platform, tree, ui, observed)
        except asyncio.CancelledError:
            observed.errors.append("interrupted")
            _finish(scenario, tree, run_id, started, observed)
            raise
        return _finish(scenario, tree, run_id, started, observed), observed.records
    finally:
        log.removeHandler(handler)
        handler.close()


async def _execute(scenario: Scenario, platform, tree: Path, ui: ProgressUI, observed: Observed) -> None:
    cfg = scenario.config
    deployment = load = None
    applied = time.time_ns()
    try:
        ui.phase("deploying")
        log.info("Starting deployment %s", scenario.entry.deployment_name)
        deployment = await platform.deploy(scenario, tree)
        if not scenario.is_overflow:
            load = make_load(scenario, load_spec(scenario, deployment), tree)
            await load.prepare()  # the load generator starts up while the deployment does
        await deployment.wait_ready(cfg.deployment.startup_timeout_s)
        observed.startup_s = round((time.time_ns() - applied) / 1e9, 3)
        log.info("Deployment ready: model listed and a probe request succeeded after %.3f s", observed.startup_s)
        ui.phase(f"ready after {observed.startup_s:.2f} s")
        await deployment.start_observing(tree)
        if scenario.is_overflow:
            await _overflow_phases(scenario, deployment, tree, ui, observed)
        else:
            await _load_with_fault(scenario, deployment, load, ui, observed)
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
        if load is not None:
            await asyncio.shield(load.discard())
        if deployment is not None:
            ui.phase("tearing down")
            try:
                await asyncio.shield(deployment.teardown(cfg.deployment.teardown_timeout_s))
                log.info("Deployment torn down")
            except (PlatformError, TimeoutError) as exc:
                observed.errors.append(f"teardown: {exc}")


def load_spec(scenario: Scenario, deployment, *, input_tokens: int | None = None,
              requests_per_client: int | None = None, max_attempts: int | None = None) -> LoadSpec:
    load = scenario.load
    requests = requests_per_client or load.requests_per_client
    attempts = max_attempts or load.max_attempts
    return LoadSpec(
        endpoints=deployment.endpoints,
        model=scenario.model,
        tokenizer=deployment.tokenizer,
        clients=load.clients,
        requests_per_client=requests,
        input_tokens=input_tokens or load.input_tokens,
        output_tokens=load.output_tokens,
        rate_per_client=load.request_rate_per_client,
        streaming=load.streaming,
        max_attempts=attempts,
        retry_backoff_s=load.retry_backoff_s,
        request_timeout_s=load.request_timeout_s,
        max_duration_s=load.max_duration_s
        or default_max_duration(requests, load.request_rate_per_client, load.request_timeout_s, attempts),
        seed=scenario.config.fault.seed,
        aiperf_mode=load.aiperf_mode,
    )


def make_load(scenario: Scenario, spec: LoadSpec, out_dir: Path, phase: str = "load"):
    if scenario.load.client == "legacy":
        from runner.load.legacy import LegacyLoad

        return LegacyLoad(spec, out_dir, phase)
    from runner.load.aiperf import AiperfLoad, aiperf_executable

    aiperf_executable()
    return AiperfLoad(spec, out_dir, phase)


async def _load_with_fault(scenario: Scenario, deployment, load, ui: ProgressUI, observed: Observed) -> None:
    spec, tree = load.spec, load.out_dir
    total = spec.clients * spec.requests_per_client
    ui.phase(f"load: {spec.clients} {scenario.load.client} client(s) x {spec.requests_per_client} requests")
    log.info("Starting load: %s", json.dumps(spec.__dict__, default=str))
    probe, stop_probe = _probe_stream(scenario, deployment, tree), asyncio.Event()
    async with ui.counting("load", load.progress, total):
        task = asyncio.create_task(load.run())
        probing = asyncio.create_task(probe.run(stop_probe)) if probe else None
        try:
            if scenario.entry.failure != "none":
                await _inject_when_due(scenario, deployment, load, task, ui, observed)
            await task
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            stop_probe.set()
            if probing is not None:
                await asyncio.gather(probing, return_exceptions=True)
                observed.probe_records = probe.records()
            observed.records = load.records()
    log.info("Load finished: %d ok, %d failed", load.progress.ok, load.progress.failed)


def _probe_stream(scenario: Scenario, deployment, tree: Path):
    probe = scenario.config.probe
    if probe.rate_per_s <= 0:
        return None
    from runner.load.probe import ProbeStream

    return ProbeStream(deployment.endpoints[0], scenario.model, probe.rate_per_s, probe.max_requests,
                       probe.max_duration_s, probe.request_timeout_s, tree)


async def _inject_when_due(scenario: Scenario, deployment, load, load_task: asyncio.Task, ui: ProgressUI,
                           observed: Observed) -> None:
    entry, cfg = scenario.entry, scenario.config
    got = asyncio.create_task(load.progress.first_success.wait())
    done, _ = await asyncio.wait({got, load_task}, return_when=asyncio.FIRST_COMPLETED)
    if got not in done:
        got.cancel()
        raise PlatformError("the load ended without a single successful request; the fault was not injected")
    first = load.progress.first_success_ns
    due_ns = first + int(scenario.inject_after_s * 1e9)
    log.info("First successful request at %s; fault due at %s", iso_from_ns(first), iso_from_ns(due_ns))
    await asyncio.sleep(max(0.0, (due_ns - time.time_ns()) / 1e9))
    if load_task.done():
        raise PlatformError(f"the load finished before the fault was due ({scenario.inject_after_s:g} s after the "
                            "first success); raise --requests-per-client or lower --inject-after")
    role = entry.hit_role
    targets = select_targets(deployment.replicas(role), cfg.fault.targets, cfg.fault.seed)
    before = await deployment.snapshot(role, targets)
    log.info("Injecting %s into %s; before: %s", entry.failure, ", ".join(targets), json.dumps(before))
    stamps = await deployment.inject(entry.failure, entry.fault_kind, role, targets)
    fault_ns = min(s["injected_ns"] for s in stamps)
    ui.phase(f"fault injected: {entry.failure} -> {', '.join(targets)}")
    observed.fault = FaultRecord(name=entry.failure, kind=entry.fault_kind, role=role, seed=cfg.fault.seed,
                                 targets=targets, injected_ns=fault_ns)
    ui.phase("recovering")
    after = await deployment.await_effect(entry.failure, entry.fault_kind, role, before, cfg.fault.verify_timeout_s)
    observed.evidence = [{**b, **s, **a} for b, s, a in zip(before, stamps, after, strict=True)]
    took = all(a["took_effect"] for a in after)
    observed.fault.took_effect = took
    observed.fault.detail = "; ".join(a["detail"] for a in after)
    log.info("Fault evidence: %s", observed.fault.detail)
    ui.phase(("fault took effect: " if took else "[red]fault did NOT take effect:[/] ") + observed.fault.detail)


async def _overflow_phases(scenario: Scenario, deployment, tree: Path, ui: ProgressUI, observed: Observed) -> None:
    cfg = scenario.config
    limit = scenario.max_model_len
    requests = min(scenario.load.requests_per_client, OVERFLOW_PHASE_REQUESTS)
    phases = {
        "overflow": load_spec(scenario, deployment, input_tokens=int(limit * cfg.fault.overflow_multiplier),
                              requests_per_client=requests, max_attempts=1),
        "recovery": load_spec(scenario, deployment,
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
        observed.phases[phase] = load.records()
        if phase == "overflow":
            _judge_overflow_effect(observed.fault, observed.phases[phase])
        log.info("Load finished (%s phase): %d ok, %d failed", phase, load.progress.ok, load.progress.failed)
    observed.records = [r for recs in observed.phases.values() for r in recs]


def _judge_overflow_effect(fault: FaultRecord, records: list[Record]) -> None:
    """The overflow took effect when the server answered oversized prompts with an error
    (a connection error or a timeout proves nothing about the context limit)."""
    rejected = sum(1 for r in records if not r.ok and r.status is not None)
    fault.took_effect = rejected > 0
    fault.detail += f"; {rejected} of {len(records)} oversized prompts answered with an error"


def _finish(scenario: Scenario, tree: Path, run_id: str, started: int, observed: Observed) -> ScenarioSummary:
    """Join, analyze, validate and write summary.json, faults.json and the join. Pure but for the writes."""
    entry, cfg = scenario.entry, scenario.config
    fault_ns = observed.fault.injected_ns if observed.fault else None
    k = cfg.checks.consecutive_successes
    joined = _join_requests(scenario, observed, tree)
    timings = Timings(startup_s=observed.startup_s, startup_reason=observed.startup_reason, fault_ns=fault_ns)
    result = analyze_phases(observed.phases, k) if observed.phases else analyze(observed.records, fault_ns, k)
    timings.service_recovery_s = result.service_recovery_s
    timings.service_recovery_reason = result.service_recovery_reason
    timings.service_recovery_resolution_s = result.service_recovery_resolution_s
    timings.first_success_ns = result.first_success_ns
    timings.infrastructure_recovery_s, timings.infrastructure_recovery_reason = _infra_recovery(observed)
    _probe_timings(timings, observed.probe_records, fault_ns, k)
    stage1, stage2, verdict, reasons = judge(
        entry=entry, checks=cfg.checks, targets=cfg.fault.targets, analysis=result, fault=observed.fault,
        evidence=observed.evidence, restarts=observed.restarts, errors=observed.errors,
    )
    load = scenario.load
    summary = ScenarioSummary(
        run_id=run_id, scenario=entry.name, group=entry.deployment_name, backend=entry.backend, mode=entry.mode,
        tp=entry.tp, dp=entry.dp, failure=entry.failure, migration_limit=scenario.migration_limit,
        platform=scenario.platform, verdict=verdict,
        reasons=reasons, started_at=iso_from_ns(started), finished_at=iso_from_ns(time.time_ns()),
        load=LoadInfo(client=load.client, mode=load.aiperf_mode if load.client == "aiperf" else "in-process",
                      clients=load.clients, requests_per_client=load.requests_per_client,
                      streaming=load.streaming, input_tokens=load.input_tokens, output_tokens=load.output_tokens),
        timings=timings, fault=observed.fault, total=result.total, before=result.before, after=result.after,
        after_recovery=result.after_recovery, phases=result.phases, cross_check=_cross_check(observed, joined),
        stage1=stage1, stage2=stage2,
    )
    if observed.probe_records:
        summary.probe = window(observed.probe_records)
    if joined is not None:
        summary.request_join = join_summary(joined)
        summary.migrations = migrations(joined, observed.migration_metric)
        summary.replicas = replica_traffic(joined, fault_ns, observed.server.replica_of_worker)
    _write_json(tree / "summary.json", summary.model_dump(mode="json"))
    _write_json(tree / "faults.json", {
        "fault": observed.fault.model_dump() if observed.fault else None,
        "evidence": observed.evidence,
        "infrastructure_recovery_s": timings.infrastructure_recovery_s,
    })
    log.info("Verdict %s%s", verdict, (": " + "; ".join(reasons)) if reasons else "")
    return summary


def _probe_timings(timings: Timings, probes: list[Record], fault_ns: int | None, k: int) -> None:
    seconds, reason, resolution = probe_recovery(probes, fault_ns, k)
    timings.probe_service_recovery_s, timings.probe_service_recovery_reason = seconds, reason
    timings.probe_service_recovery_resolution_s = resolution


LOST_TAIL_LEAD_S = 2.0  # a frontend's last lines before its fault may not reach the collected log


def _frontend_fault(scenario: Scenario, observed: Observed) -> FrontendFault | None:
    fault = observed.fault
    if fault is None or fault.role != "frontend" or fault.injected_ns is None:
        return None
    ready = [e.get("ready_ns") for e in observed.evidence if e.get("ready_ns")]
    end = max(ready) if ready else fault.injected_ns + int(scenario.config.fault.verify_timeout_s * 1e9)
    return FrontendFault(start_ns=fault.injected_ns - int(LOST_TAIL_LEAD_S * 1e9), end_ns=end)


def _join_requests(scenario: Scenario, observed: Observed, tree: Path) -> Join | None:
    """Join the client records with the frontends' logs; the observed records become the corrected ones."""
    if observed.server is None:
        return None
    joined = join(observed.records, observed.server.requests, _frontend_fault(scenario, observed),
                  observed.server.replica_of_worker)
    observed.records = joined.records()
    if observed.phases:
        observed.phases = {phase: [r for r in observed.records if r.phase == phase] for phase in observed.phases}
    with (tree / "requests_join.jsonl").open("w") as fh:
        for row in join_lines(joined):
            fh.write(json.dumps(row) + "\n")
    return joined


def _cross_check(observed: Observed, joined: Join | None) -> CrossCheck:
    cross = CrossCheck(client_requests=len(observed.records), frontend_requests=observed.frontend_requests)
    if observed.frontend_requests is not None:
        cross.difference = observed.frontend_requests - len(observed.records)
    if joined is None:
        cross.detail = "the frontend logs were not collected, so the difference cannot be explained"
        return cross
    cross.expected_difference = expected_counter_difference(joined)
    verdict = "as" if cross.difference == cross.expected_difference else "NOT as"
    if observed.fault is not None and observed.fault.role == "frontend":
        verdict += (" (a faulted frontend's counts after its last 1 Hz scrape are lost with it, so the counter can "
                    "fall short by what it served in its last second)")
    cross.detail = (f"{verdict} the request join predicts: the counter counts requests from `request received` on, so "
                    "it misses attempts the frontend refused before its handler (503 model not ready, 404 no worker) "
                    "or that never reached it, and adds the readiness probe and the probe stream")
    return cross


def _infra_recovery(observed: Observed) -> tuple[float | None, str | None]:
    if observed.fault is None or observed.fault.kind in ("none", "client"):
        return None, "no replica was faulted"
    if not observed.evidence:
        return None, "no fault evidence was recorded"
    ready = [e.get("ready_ns") for e in observed.evidence]
    if any(r is None for r in ready):
        missing = [e["target"] for e in observed.evidence if e.get("ready_ns") is None]
        return None, f"no ready replacement for {', '.join(missing)} within the verify timeout"
    return round((max(ready) - observed.fault.injected_ns) / 1e9, 3), None


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


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")

"""run_suite(): every scenario of a run in turn, then the run's reports and upload.

Run ids, the run-level summary, junit.xml, report.html, the printed tables and the exit code live here;
the timeline of one scenario is runner.run.scenario."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

from runner.core import exits
from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.platforms.base import Platform
from runner.report.tables import group_tables, scenario_table
from runner.results.observe import iso_from_ns
from runner.results.records import Record
from runner.results.summary import RunScenarioEntry, RunSummary, ScenarioSummary
from runner.run.files import write_json
from runner.run.loads import NextLoad, Prestarts
from runner.run.scenario import run_scenario
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario, Unsupported, plan, plan_timeline

log = logging.getLogger("runner")


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

    default = list(DEFAULT_LOCAL_SUITE) if config.platform == "local" and not config.timelines else []
    names = config.scenarios or default
    if not names and not config.timelines:
        raise UserError("no scenario given; pass --scenario NAME or --scenario-file F "
                        "(see `ft-runner scenarios --platform kubernetes`)")
    try:
        planned = [plan(name, config) for name in names] + [plan_timeline(t, config) for t in config.timelines]
    except Unsupported as exc:
        raise UserError(f"{exc}; list what this platform runs with `ft-runner scenarios --platform "
                        f"{config.platform}`") from None
    duplicate = next((s.name for i, s in enumerate(planned) if s.name in {p.name for p in planned[:i]}), None)
    if duplicate:
        raise UserError(f"two scenarios are named {duplicate!r}; give each scenario file its own `name`")
    return planned


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
    run_id = config.run_id or job_run_id() or new_run_id()
    run_dir = config.output / run_id
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} already holds a run; choose another --run-id or --output")
    store_ok = _check_store(config, run_id, ui)
    platform = make_platform(config)
    platform.preflight(scenarios)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = RunSummary(run_id=run_id, platform=config.platform, started_at=iso_from_ns(time.time_ns()))
    write_json(run_dir / "summary.json", run.model_dump())
    uploader = _make_uploader(config, run_id, run_dir)
    scenario_uploads = uploader if store_ok else None  # an unwritable store is tried once, at the end
    ui.phase(f"run {run_id}: {len(scenarios)} scenario(s) on the {config.platform} platform -> {run_dir}")
    summaries: list[ScenarioSummary] = []
    records: dict[str, list[Record]] = {}  # read once per scenario, reused by every report
    interrupted = False
    try:
        asyncio.run(_run_all(scenarios, platform, run_dir, run_id, ui, summaries, records, scenario_uploads))
    except KeyboardInterrupt:
        interrupted = True
        ui.phase("interrupted: the deployment was torn down; what was measured is kept")
    for s in summaries:
        run.scenarios.append(RunScenarioEntry(scenario=s.scenario, verdict=s.verdict, path=s.scenario))
    passed = all(s.verdict in ("PASS", "EXPECTED-LIMITATION") for s in summaries)
    code = exits.INTERRUPTED if interrupted else (exits.PASS if passed else exits.FAIL)
    run.finished_at, run.exit_code = iso_from_ns(time.time_ns()), code
    write_json(run_dir / "summary.json", run.model_dump())
    _write_run_reports(run_dir, run, summaries, records, ui, trend_href(config))
    _write_exports(config, run_dir, run, summaries, ui)
    if summaries:
        print(group_tables(summaries))
    ui.phase(f"results: {run_dir}  ({sum(s.verdict == 'PASS' for s in summaries)}/{len(summaries)} passed)")
    if uploader is not None:
        report = uploader.final_pass()
        for line in report.lines():
            ui.phase(line)
        if report.ok:
            ui.phase(f"uploaded to {uploader.url()}")
        elif code == exits.PASS:
            code = exits.UPLOAD_INCOMPLETE
    return code


def _check_store(config: RunConfig, run_id: str, ui: ProgressUI) -> bool:
    """Fail fast: a bucket that cannot be written stops the run before the first scenario (unless best effort)."""
    if not config.s3.bucket:
        return True
    from runner.store.s3 import check_writable

    problem = check_writable(config.s3, run_id)
    if problem is None:
        return True
    if not config.s3.best_effort:
        raise UserError(f"the result store is not writable: {problem}; fix the --s3-* settings or the credentials, "
                        "or pass --s3-best-effort to run anyway and upload later")
    from rich.markup import escape

    ui.phase(f"[yellow]the result store is not writable ({escape(problem)}); running anyway (--s3-best-effort): the tree "
             f"stays in {config.output / run_id}, the upload is tried once at the end[/]")
    return False


def trend_href(config: RunConfig) -> str | None:
    """report.html's link to the bucket's trend page: s3://B/P/_trend/trend.html, beside the run's folder."""
    if not config.s3.bucket:
        return None
    from runner.results.trend import TREND_DIR

    return f"../{TREND_DIR}/trend.html"


def _make_uploader(config: RunConfig, run_id: str, run_dir: Path):
    if not config.s3.bucket:
        return None
    from runner.store.s3 import Uploader

    return Uploader(config.s3, run_id, run_dir)


def _write_run_reports(run_dir: Path, run: RunSummary, summaries: list[ScenarioSummary],
                       records: dict[str, list[Record]], ui: ProgressUI, trend: str | None = None) -> None:
    """junit.xml and report.html for the run; a report that cannot be written is said, not fatal."""
    from runner.report.junit import write_junit
    from runner.report.html import write_report

    for writer, args in ((write_junit, (run_dir, run, summaries)),
                         (write_report, (run_dir, run, summaries, records, trend))):
        try:
            writer(*args)
        except (OSError, ValueError) as exc:
            ui.phase(f"[red]could not write {writer.__name__}: {exc}[/]")


def _write_exports(config: RunConfig, run_dir: Path, run: RunSummary, summaries: list[ScenarioSummary],
                   ui: ProgressUI) -> None:
    """metrics.prom and each scenario's fault_tolerance_report.json; then the optional Pushgateway push."""
    from runner.report.exports import write_exports

    try:
        metrics = write_exports(run_dir, run, summaries)
    except (OSError, ValueError) as exc:
        ui.phase(f"[red]could not write the exports: {exc}[/]")
        return
    if config.exports.pushgateway_url:
        from rich.markup import escape

        from runner.store.push import push_metrics

        problem = push_metrics(config.exports, run.run_id, metrics.read_bytes())
        ui.phase(f"[red]metrics not pushed: {escape(problem)}[/]" if problem else
                 f"metrics pushed to {config.exports.pushgateway_url}")


def _write_timeline(tree: Path, summary: ScenarioSummary, records: list[Record], ui: ProgressUI) -> None:
    from runner.report.timeline import write_timeline_png

    try:
        write_timeline_png(tree, summary, records)
    except (OSError, ValueError) as exc:
        ui.phase(f"[red]could not write timeline.png: {exc}[/]")


async def _run_all(scenarios: list[Scenario], platform: Platform, run_dir: Path, run_id: str, ui: ProgressUI,
                   summaries: list[ScenarioSummary], records: dict[str, list[Record]], uploader) -> None:
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, current.cancel)
    mine = None
    try:
        for i, scenario in enumerate(scenarios, 1):
            ui.scenario(scenario.name, i, len(scenarios))
            following = scenarios[i] if i < len(scenarios) else None
            after = NextLoad(following, platform, run_dir / following.name) \
                if NextLoad.possible(following, platform) else None
            summary, records[scenario.name] = await run_scenario(scenario, platform, run_dir / scenario.name,
                                                                 run_id, ui, Prestarts(mine, after))
            mine = after
            print(scenario_table(summary))
            summaries.append(summary)
            _write_timeline(run_dir / scenario.name, summary, records[scenario.name], ui)
            if uploader is not None:
                report = await asyncio.to_thread(uploader.upload_scenario, run_dir / scenario.name)
                ui.phase(report.lines()[0] + ("" if report.ok else f" ({report.error or 'see the final pass'})"))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if mine is not None:
            await asyncio.shield(mine.discard())


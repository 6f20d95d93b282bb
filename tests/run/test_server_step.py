"""After the load, the scenario keeps observing until the drain checks are decided, and no longer."""

from __future__ import annotations

import asyncio
import io
import time

from rich.console import Console

from runner.cli.main import run_config
from runner.results.records import Record
from runner.results.server_checks import series
from runner.run.observed import Observed
from runner.run.server_step import await_drains
from runner.run.ui import ProgressUI
from runner.scenarios.plan import plan

S = 1_000_000_000


class Scraper:
    """Writes the frontend's metrics.log the way the local platform does: one block per scrape, on demand
    (scrape_now) and from a periodic loop; the in-flight value of each scrape comes from `values`."""

    def __init__(self, tree, values: list[int]):
        (tree / "Frontend").mkdir(parents=True)
        self.path, self.values, self.calls = tree / "Frontend" / "fe-1.metrics.log", values, 0

    async def scrape_now(self) -> None:
        self.calls += 1
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        with self.path.open("a") as fh:
            fh.write(f"# scrape time_ns={time.time_ns()} pid=7\ndynamo_frontend_inflight_requests{{model=\"m\"}} "
                     f"{value}\n")

    async def loop(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self.scrape_now()


def scenario(tmp_path, within_s: float):
    (tmp_path / "c.yaml").write_text(f"checks:\n  server:\n    - {{kind: inflight_drains, within_s: {within_s}}}\n")
    return plan("mocker-agg-tp-1-dp-1-none", run_config(["--config", str(tmp_path / "c.yaml")]))


async def drain(tmp_path, values: list[int], within_s: float) -> tuple[Scraper, int]:
    tree = tmp_path / "tree"
    scraper = Scraper(tree, values)
    ended = time.time_ns()
    observed = Observed(records=[Record(start_ns=ended - S, end_ns=ended, ok=True)], role_dirs={"Frontend": "frontend"})
    periodic = asyncio.create_task(scraper.loop(0.2))
    try:
        await asyncio.wait_for(await_drains(scenario(tmp_path, within_s), scraper, tree, observed,
                                            ProgressUI(Console(file=io.StringIO()))), timeout=within_s + 10)
    finally:
        periodic.cancel()
    return scraper, ended


def test_a_drained_frontend_is_decided_by_one_scrape_at_once(tmp_path):
    scraper, _ = asyncio.run(drain(tmp_path, [0], within_s=30))
    assert scraper.calls == 1  # the on-demand scrape; no periodic one was waited for


def test_the_wait_lasts_until_the_frontend_scrapes_zero(tmp_path):
    scraper, ended = asyncio.run(drain(tmp_path, [3, 2, 2, 1, 0], within_s=30))
    samples = series(scraper.path.read_text(), "dynamo_frontend_inflight_requests")
    assert [s.value for s in samples][:5] == [3, 2, 2, 1, 0]
    assert samples[-1].value == 0 and (samples[-1].time_ns - ended) / S < 30


def test_a_frontend_that_never_drains_is_observed_until_its_bound(tmp_path):
    scraper, ended = asyncio.run(drain(tmp_path, [2], within_s=1))
    last = series(scraper.path.read_text(), "dynamo_frontend_inflight_requests")[-1]
    assert last.value == 2 and (last.time_ns - ended) / S >= 1  # a scrape past the bound makes it a FAIL

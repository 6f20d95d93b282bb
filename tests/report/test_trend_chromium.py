"""trend.html in a real browser: it loads offline with no error, every plot is decoded and laid out,
the regression is named with its onset; and report.html's link to the trend resolves to it."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from report.cdp import chromium_path, open_page
from report.history import noisy, run_id, scenario_summary, write_night
from report.synthetic import build_run
from runner.report.html import write_report
from runner.report.trend_page import write_trend
from runner.results.trend import TREND_DIR, Settings, point_of, trend

from .test_report_chromium import ARTIFACTS

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium not installed (scripts/install-system-test-deps.sh)")

PROBE = """JSON.stringify({
  images: [...document.querySelectorAll('img.plot')].map(i => ({
    natural: i.naturalWidth, w: Math.round(i.getBoundingClientRect().width), complete: i.complete})),
  sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
  regressions: [...document.querySelectorAll('ul.regressions li')].map(li => li.textContent),
  flagged_cells: document.querySelectorAll('table.runs td.regressed').length,
  overview_rows: document.querySelectorAll('table.overview tr').length,
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
            .filter(u => /^[a-z]+:/i.test(u) && !u.startsWith('data:')),
})"""

STEP, FLAT = "mocker-agg-tp-1-dp-2-decode_worker", "mocker-agg-tp-1-dp-1-none"


def _trends():
    rng = random.Random(21)
    points = []
    for i in range(60):
        points.append(point_of(scenario_summary(i, STEP, noisy(rng, recovery=8.0, p99=300.0 if i < 50 else 700.0,
                                                                 ttft=40.0))))
        points.append(point_of(scenario_summary(i, FLAT, noisy(rng), failure="none")))
    return trend(points, Settings())


def test_trend_page_loads_without_errors_and_shows_every_plot_and_the_onset(tmp_path):
    page = write_trend(tmp_path / "trend", _trends(), ["s3://b/nightly"], Settings(), "2026-12-01T00:00:00+00:00")
    shot = ARTIFACTS / "trend.png"
    result = open_page(page.as_uri(), f"({PROBE})", screenshot=shot)
    assert result.loaded and result.problems == [], result.problems
    assert all(u.startswith(("file:", "data:")) for u in result.requests), result.requests
    got = json.loads(result.probe)
    assert got["sections"] == [STEP, FLAT] and got["overview_rows"] == 3 and got["external"] == []
    assert len(got["images"]) == 2
    for img in got["images"]:
        assert img["complete"] and img["natural"] == 1000 and img["w"] > 600, img  # decoded and laid out
    [reg] = got["regressions"]
    assert "latency p99" in reg and f"since run {run_id(50)}" in reg
    assert got["flagged_cells"] == 10  # the latest 10 runs' p99 cells are red
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_html_links_to_the_trend_where_the_bucket_keeps_it(tmp_path):
    """In the bucket a run's report.html is s3://B/P/<run>/report.html and the trend s3://B/P/_trend/trend.html;
    the same layout on disk (as `results download` + `results trend --output` make it) resolves the link."""
    root = tmp_path / "bucket"
    run_dir, run, summaries, records = build_run(root)
    write_report(run_dir, run, summaries, records, trend_href=f"../{TREND_DIR}/trend.html")
    rng = random.Random(3)
    for i in range(5):
        write_night(root, i, {FLAT: scenario_summary(i, FLAT, noisy(rng), failure="none")})
    write_trend(root / TREND_DIR, _trends(), [str(root)], Settings(), "2026-12-01T00:00:00+00:00")
    probe = """(() => { const a = document.querySelector('a.trend'); return a ? a.href : null; })()"""
    result = open_page((run_dir / "report.html").as_uri(), probe)
    assert result.problems == [], result.problems
    assert result.probe == (root / TREND_DIR / "trend.html").as_uri()
    target = open_page(result.probe, "document.title")
    assert target.loaded and target.problems == [] and target.probe.startswith("ft-runner trend")
    shutil.rmtree(root / TREND_DIR)
    write_report(run_dir, run, summaries, records)  # no bucket: no link
    assert 'class="trend"' not in (run_dir / "report.html").read_text()

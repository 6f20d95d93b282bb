"""report.html in a real browser: it loads offline with no console error and the plots are drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from report.cdp import chromium_path, open_page
from report.synthetic import build_run

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium not installed (scripts/install-system-test-deps.sh)")

PROBE = """JSON.stringify({
  plots: [...document.querySelectorAll('.plot svg')].map(s => {
    const r = s.getBoundingClientRect();
    return {w: Math.round(r.width), h: Math.round(r.height), paths: s.querySelectorAll('path').length};
  }),
  sections: document.querySelectorAll('section').length,
  rows: document.querySelectorAll('table.run tr').length,
  title: document.title,
  linked_sheets: [...document.styleSheets].filter(s => s.href).length,
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
            .filter(u => /^[a-z]+:/i.test(u)),
})"""


def test_report_loads_without_errors_and_shows_every_plot(tmp_path):
    run_dir, run, summaries, _ = build_run(tmp_path / "results")
    shot = ARTIFACTS / "report.png"
    result = open_page((run_dir / "report.html").as_uri(), f"({PROBE})", screenshot=shot)

    assert result.loaded
    assert result.problems == [], result.problems
    assert all(u.startswith(("file:", "data:")) for u in result.requests), result.requests  # offline: nothing fetched
    import json

    page = json.loads(result.probe)
    assert page["title"] == f"ft-runner report: {run.run_id}"
    assert page["sections"] == len(summaries)
    assert page["rows"] == len(summaries) + 1
    assert page["external"] == [] and page["linked_sheets"] == 0
    assert len(page["plots"]) == len(summaries)
    for plot in page["plots"]:
        assert plot["w"] > 600 and plot["h"] > 300, plot  # laid out at a readable size
        assert plot["paths"] > 50, plot  # axes, ticks, glyphs and the data: really drawn
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_browser_check_does_catch_broken_pages(tmp_path):
    """The check above is not vacuous: a console error and a missing resource are both reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png"><script>console.error("boom")</script></body></html>')
    result = open_page(page.as_uri(), "document.querySelectorAll('svg').length")
    assert any("boom" in e for e in result.console_errors), result
    assert result.failed_requests or result.log_errors, result
    assert result.probe == 0

"""`trend.html`: every scenario across the runs, each run judged against its rolling baseline.

One self-contained page (the plots are inline PNGs, no script, nothing fetched), and the same plots
as `trend-<scenario>.png` beside it. Per scenario: the regressions in force with the run where they
began, a plot per metric (the baseline band shaded, regressed runs red, the onset marked), and a
table of the latest runs.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from runner.report.html import anchor  # noqa: E402
from runner.results.trend import (  # noqa: E402
    LEARNING,
    METRIC_BY_KEY,
    METRICS,
    REGRESSED,
    Judged,
    ScenarioTrend,
    Settings,
    describe,
)

PAGE_NAME = "trend.html"
TABLE_RUNS = 30  # rows of each scenario's run table (the plots show every run)
_PLOTTED = ("success_rate", "service_recovery_s", "infrastructure_recovery_s", "latency_p99_ms", "ttft_p99_ms")
_COLORS = {"ok": "#1565c0", REGRESSED: "#c62828", LEARNING: "#9e9e9e", "band": "#90caf9", "onset": "#c62828"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1180px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:0 0 16px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.l,th.l{text-align:left}.scroll{overflow-x:auto}
.v{font-weight:600;padding:1px 7px;border-radius:3px;color:#fff}
.PASS{background:#2e7d32}.FAIL{background:#c62828}.ERROR{background:#6d4c41}.EXPECTED-LIMITATION{background:#ef6c00}
td.regressed{background:#ffebee;color:#b71c1c;font-weight:600}td.learning{color:#888}
ul.regressions li{color:#b71c1c}.ok{color:#2e7d32}
img.plot{width:100%;max-width:1000px;height:auto;display:block}
.muted{color:#777}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _fmt(key: str, v: float | None) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "never"
    if key == "success_rate":
        return f"{v * 100:.2f}%"
    return f"{v:.1f}" if key.endswith("_s") else f"{v:.0f}"


def figure(st: ScenarioTrend) -> Figure:
    shown = [m for m in METRICS if m.key in _PLOTTED and any(j.value is not None for j in st.judged[m.key])]
    fig = Figure(figsize=(10, 1.9 * max(1, len(shown)) + 0.8), dpi=100)
    axes = fig.subplots(max(1, len(shown)), 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(f"{st.scenario}: {len(st.points)} run(s)", fontsize=11, x=0.01, ha="left")
    onset = {r.metric: r.onset_run for r in st.regressions}
    for ax, m in zip(axes, shown):
        _draw_metric(ax, st.judged[m.key], m.key, onset.get(m.key))
        ax.set_ylabel(f"{m.label}" + (f" ({m.unit})" if m.unit and m.unit != "%" else " (%)" if m.unit else ""),
                      fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    if not shown:
        axes[0].text(0.5, 0.5, "no measured values", ha="center", va="center", transform=axes[0].transAxes)
    axes[-1].set_xlabel("run (oldest to newest)")
    _ticks(axes[-1], st)
    fig.tight_layout()
    return fig


def _draw_metric(ax, judged: Sequence[Judged], key: str, onset_run: str | None) -> None:
    scale = 100.0 if key == "success_rate" else 1.0
    xs = [i for i, j in enumerate(judged) if j.band is not None]
    if xs:
        ax.fill_between(xs, [judged[i].band.low * scale for i in xs], [judged[i].band.high * scale for i in xs],
                        color=_COLORS["band"], alpha=0.4, lw=0, step="mid", label="baseline band")
    finite = [(i, j) for i, j in enumerate(judged) if j.value is not None and math.isfinite(j.value)]
    ax.plot([i for i, _ in finite], [j.value * scale for _, j in finite], color="#607d8b", lw=0.8)
    for status in ("ok", LEARNING, REGRESSED):
        chosen = [(i, j) for i, j in finite if j.status == status]
        if chosen:
            ax.scatter([i for i, _ in chosen], [j.value * scale for _, j in chosen], s=14, zorder=3,
                       color=_COLORS[status], label=status)
    never = [i for i, j in enumerate(judged) if j.value is not None and math.isinf(j.value)]
    for i in never:
        ax.axvline(i, color=_COLORS[REGRESSED], lw=0.8, ls=":")
    if onset_run is not None:
        at = next(i for i, j in enumerate(judged) if j.point.run_id == onset_run)
        ax.axvline(at, color=_COLORS["onset"], lw=1.4, label=f"regression since {onset_run}")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, fontsize=7, frameon=False)


def _ticks(ax, st: ScenarioTrend) -> None:
    n = len(st.points)
    step = max(1, n // 8)
    idx = list(range(0, n, step))
    ax.set_xticks(idx, [st.points[i].started_at[:10] for i in idx], fontsize=7)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def png_name(scenario: str) -> str:
    return f"trend-{anchor(scenario)[2:]}.png"


def _runs_table(st: ScenarioTrend) -> str:
    head = "<tr><th class=l>Run</th><th class=l>Started</th><th class=l>Verdict</th>" + "".join(
        f"<th>{_e(m.label)}</th>" for m in METRICS if m.key != "verdict") + "</tr>"
    rows = []
    for i in range(len(st.points) - 1, max(-1, len(st.points) - 1 - TABLE_RUNS), -1):
        p = st.points[i]
        verdict_cls = REGRESSED if st.judged["verdict"][i].status == REGRESSED else ""
        cells = "".join(
            f'<td class="{j.status if j.status in (REGRESSED, LEARNING) else ""}">{_e(_fmt(m.key, j.value))}</td>'
            for m in METRICS if m.key != "verdict" for j in [st.judged[m.key][i]])
        rows.append(f"<tr><td class=l>{_e(p.run_id)}</td><td class=l>{_e(p.started_at)}</td>"
                    f'<td class="l {verdict_cls}"><span class="v {_e(p.verdict)}">{_e(p.verdict)}</span></td>{cells}</tr>')
    more = len(st.points) - TABLE_RUNS
    note = f'<p class="muted">the latest {TABLE_RUNS} of {len(st.points)} runs; the plot shows all</p>' if more > 0 else ""
    return f'<div class="scroll"><table class="runs">{head}{"".join(rows)}</table></div>{note}'


def section(st: ScenarioTrend, png: bytes) -> str:
    regs = "".join(f"<li>{_e(describe(r))}</li>" for r in st.regressions)
    status = f'<ul class="regressions">{regs}</ul>' if regs else '<p class="ok">no regression at the latest run</p>'
    data = base64.b64encode(png).decode()
    return (f'<section id="{anchor(st.scenario)}"><h2>{_e(st.scenario)}</h2>{status}'
            f'<img class="plot" alt="trend of {_e(st.scenario)}" src="data:image/png;base64,{data}">'
            f'<p class="muted"><a href="{_e(png_name(st.scenario))}">{_e(png_name(st.scenario))}</a></p>'
            + _runs_table(st) + "</section>")


def render(trends: Sequence[ScenarioTrend], pngs: dict[str, bytes], sources: Sequence[str], settings: Settings,
           generated_at: str) -> str:
    regressions = [r for st in trends for r in st.regressions]
    runs = len({p.run_id for st in trends for p in st.points})
    overview = "".join(
        f'<tr><td class=l><a href="#{anchor(st.scenario)}">{_e(st.scenario)}</a></td><td>{len(st.points)}</td>'
        f'<td class=l><span class="v {_e(st.points[-1].verdict)}">{_e(st.points[-1].verdict)}</span></td>'
        f'<td class="l {REGRESSED if st.regressions else ""}">'
        f'{_e("; ".join(f"{METRIC_BY_KEY[r.metric].label} since {r.onset_run}" for r in st.regressions) or "-")}</td></tr>'
        for st in trends)
    summary = (f"<p><b>{len(regressions)} regression(s)</b> in {sum(bool(st.regressions) for st in trends)} of "
               f"{len(trends)} scenario(s)</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ft-runner trend: {_e(', '.join(sources))}</title><style>{_CSS}</style></head><body>"
        f"<h1>Fault-tolerance trend</h1>"
        f'<p class="meta">{_e(", ".join(sources))} · {runs} run(s) · {len(trends)} scenario(s) · baseline: the '
        f"previous {settings.baseline_runs} in-band runs (at least {settings.min_baseline}), median ± {settings.k:g}·MAD · "
        f"generated {_e(generated_at)}</p>"
        + summary
        + '<div class="scroll"><table class="overview"><tr><th class=l>Scenario</th><th>Runs</th>'
          f"<th class=l>Latest verdict</th><th class=l>Regression (since run)</th></tr>{overview}</table></div>"
        + "".join(section(st, pngs[st.scenario]) for st in trends)
        + '<p class="muted">generated by dynamo-ft-runner</p></body></html>\n'
    )


def write_trend(out_dir: Path, trends: Sequence[ScenarioTrend], sources: Sequence[str], settings: Settings,
                generated_at: str) -> Path:
    """trend.html and one trend-<scenario>.png per scenario into out_dir; returns the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trends = sorted(trends, key=lambda st: (not st.regressions, st.scenario))  # regressed scenarios first
    pngs = {}
    for st in trends:
        pngs[st.scenario] = png_bytes(figure(st))
        (out_dir / png_name(st.scenario)).write_bytes(pngs[st.scenario])
    page = out_dir / PAGE_NAME
    page.write_text(render(trends, pngs, sources, settings, generated_at), encoding="utf-8")
    return page

"""`ft-runner results ...`: list, download, show, compare, trend and upload saved result trees.

Exit codes: 0 done; 1 a download that is incomplete or failed verification, or
`compare`/`trend --fail-on-regression` that found one; 2 bad input (one line naming the
fix); 3 `upload` could not put the whole tree in the store.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from runner.cli.options import ALIASES, FLAG_CONTEXT, config_option, given
from runner.core import exits
from runner.core.config import S3Config
from runner.core.errors import UserError
from runner.store.s3 import parse_s3_url


def s3_options(fn):
    """--s3-endpoint, --s3-region and --s3-addressing-style, as on `ft-runner run`."""
    for dotted in ("s3.addressing_style", "s3.region", "s3.endpoint"):  # bottom-up: listed endpoint first
        fn = config_option(dotted, *ALIASES[dotted])(fn)
    return fn


def _s3() -> S3Config:
    """The S3Config of the s3 options given on the current command line."""
    values = {dotted.removeprefix("s3."): v for dotted, v in given(click.get_current_context()).items()}
    endpoint = values.get("endpoint")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise UserError(f"--s3-endpoint {endpoint!r} is not a URL: write it as http(s)://HOST[:PORT]")
    return S3Config.model_validate(values)


def _remote(url: str):
    from runner.store.fetch import Remote

    return Remote(_s3(), url)


def _load(source: str):
    """(run summary, scenario summaries) from a local directory or an s3:// URL."""
    if source.startswith("s3://"):
        from runner.store.fetch import read_remote_summaries

        return read_remote_summaries(_remote(source))
    from runner.store.resultdir import load_local

    return load_local(Path(source))


@click.group("results", context_settings=FLAG_CONTEXT)
def results() -> None:
    """Saved result trees: list runs in S3, download, re-print tables, compare two runs, the trend of many."""


@results.command("list")
@click.argument("url")
@s3_options
def list_cmd(url) -> None:
    """Runs under s3://BUCKET/PREFIX and their scenarios' verdicts (read from the summaries)."""
    from tabulate import tabulate

    from runner.store.fetch import list_runs

    runs = list_runs(_remote(url))
    if not runs:
        click.echo(f"no runs under {url}")
        return
    rows = []
    for run in runs:
        upload = "complete" if run.complete else "incomplete"
        scenarios = run.scenarios or [("-", "-")]
        for i, (name, verdict) in enumerate(scenarios):
            first = i == 0
            rows.append([run.run_id if first else "", run.started_at if first else "", run.platform if first else "",
                         upload if first else "", name, verdict])
        if run.note:
            rows.append(["", "", "", "", f"({run.note})", ""])
    click.echo(tabulate(rows, headers=["Run", "Started", "Platform", "Upload", "Scenario", "Verdict"], disable_numparse=True))
    click.echo(f"\n{len(runs)} run(s) under {url}")


class _RichProgress:
    def __init__(self, progress) -> None:
        self.progress = progress
        self.task = None

    def start(self, total_bytes: int, files: int) -> None:
        self.task = self.progress.add_task(f"{files} files", total=total_bytes)

    def advance(self, nbytes: int) -> None:
        self.progress.update(self.task, advance=nbytes)


@results.command("download")
@click.argument("url")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--scenario", help="Only this scenario's tree (plus the run's top-level files).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
@s3_options
def download_cmd(url, dest, scenario, progress) -> None:
    """Fetch s3://BUCKET/PREFIX/<run-id> into DEST/<run-id>/, verifying every file's sha256."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from runner.store.fetch import download_run

    remote = _remote(url)
    _, prefix = parse_s3_url(url)
    if not prefix:
        raise UserError(f"{url} names no run: give s3://BUCKET/PREFIX/<run-id> (see `ft-runner results list`)")
    if progress:
        bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                       TimeRemainingColumn(), console=Console(stderr=True))
        with bar:
            report = download_run(remote, dest, scenario, _RichProgress(bar))
    else:
        report = download_run(remote, dest, scenario)
    mib = report.bytes / (1024 * 1024)
    click.echo(f"{len(report.downloaded)} files downloaded ({mib:.1f} MiB in {report.seconds:.1f} s), "
               f"{len(report.reused)} already present, sha256 verified, into {report.run_dir}")
    if not report.ok:
        for path, reason in sorted(report.failed.items()):
            click.echo(f"  not downloaded: {path}: {reason}", err=True)
        click.echo(f"error: {len(report.failed)} file(s) missing or failed verification", err=True)
        sys.exit(1)


@results.command("show")
@click.argument("directory", type=click.Path(path_type=Path))
def show_cmd(directory: Path) -> None:
    """Re-print the run's tables from a saved tree (a run or a scenario directory)."""
    from runner.report import tables
    from runner.store.resultdir import load_local

    run, summaries = load_local(directory)
    if run:
        click.echo(f"run {run.run_id} ({run.platform}), started {run.started_at}")
    for s in summaries:
        click.echo(tables.scenario_table(s))
        click.echo()
    if summaries:
        click.echo(tables.group_tables(summaries))


@results.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a scenario regressed.")
@s3_options
def compare_cmd(run_a, run_b, fail_on_regression) -> None:
    """Regression table of RUN_B against RUN_A (each a local run directory or s3://BUCKET/PREFIX/<run-id>)."""
    from runner.report.compare import compare, render

    _, a = _load(run_a)
    _, b = _load(run_b)
    rows = compare(a, b)
    click.echo(render(rows, run_a, run_b))
    if fail_on_regression and any(r.regressions for r in rows):
        sys.exit(1)


@results.command("upload")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("url")
@s3_options
def upload_cmd(run_dir, url) -> None:
    """Upload (or finish uploading) a saved run directory to s3://BUCKET/PREFIX/<run-id>/."""
    from runner.store.s3 import Uploader

    bucket, prefix = parse_s3_url(url)
    s3 = _s3().model_copy(update={"bucket": bucket, "prefix": prefix})
    uploader = Uploader(s3, run_dir.resolve().name, run_dir)
    report = uploader.final_pass()
    for line in report.lines():
        click.echo(line, err=not report.ok)
    if not report.ok:
        sys.exit(exits.UPLOAD_INCOMPLETE)
    click.echo(f"uploaded to {uploader.url()}")


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """`14d`, `36h`, `2w` before now, or an ISO date/time (UTC when it names no zone)."""
    if not text:
        return None
    units = {"h": 3600, "d": 86400, "w": 7 * 86400}
    number, unit = text[:-1], text[-1:].lower()
    if unit in units and number.isdigit():
        return now - timedelta(seconds=int(number) * units[unit])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r} is neither an age (14d, 36h, 2w) nor an ISO date (2026-11-20)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class _Counter:
    """Progress of a long read on stderr, through rich (silent when not asked)."""

    def __init__(self, bar) -> None:
        self.bar, self.tasks = bar, {}

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if what not in self.tasks:
            self.tasks[what] = self.bar.add_task(what, total=total)
        self.bar.update(self.tasks[what], completed=done, total=total)


@results.command("trend")
@click.argument("sources", nargs=-1, required=True)
@click.option("--since", help="Only runs that started in this period (14d, 36h, 2w) or since this ISO date.")
@click.option("--scenario", "pattern", help="Only scenarios whose name matches this pattern (fnmatch: '*-decode_worker').")
@click.option("--baseline-runs", type=click.IntRange(min=1), default=7, show_default=True,
              help="Each run is judged against the band of this many previous in-band runs.")
@click.option("--min-baseline", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs needed in the baseline before a run is judged (earlier ones are 'learning').")
@click.option("--k", "k", type=click.FloatRange(min=0.5), default=4.0, show_default=True,
              help="Band half-width in MADs (scaled to a standard deviation) around the baseline's median.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("trend"), show_default=True,
              help="Directory of trend.html and its PNGs.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a scenario is regressed at its latest run.")
@click.option("--publish", is_flag=True, help="Also upload the page to s3://B/P/_trend/ (report.html links there).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Cache of the summaries of complete runs (default: ~/.cache/ft-runner/trend).")
@click.option("--no-cache", is_flag=True, help="Read every summary again and keep no cache.")
@click.option("--progress/--no-progress", default=True, help="Show progress on stderr.")
@s3_options
def trend_cmd(sources, since, pattern, baseline_runs, min_baseline, k, output, fail_on_regression, publish, cache_dir,
              no_cache, progress) -> None:
    """Per scenario across runs (s3://BUCKET/PREFIX or local directories): verdict, success rate, recoveries,
    p99 latency and TTFT, each run judged against a rolling baseline; writes trend.html and PNGs."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from runner.report.trend_page import PAGE_NAME, png_name, write_trend
    from runner.results.trend import Settings, describe, trend
    from runner.store.history import Filters, default_cache_dir, publish as publish_page, read_points

    started = time.monotonic()
    now = datetime.now(UTC)
    filters = Filters(since=parse_since(since, now), scenario=pattern)
    if publish and not any(s.startswith("s3://") for s in sources):
        raise UserError("--publish needs an s3://BUCKET/PREFIX source to upload the page to")
    cache = None if no_cache else (cache_dir or default_cache_dir())
    remotes: dict[str, object] = {}

    def make_remote(url: str):
        remotes[url] = remotes.get(url) or _remote(url)
        return remotes[url]

    if progress:
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                       transient=True)
        with bar:
            points, stats = read_points(list(sources), make_remote, filters, cache, _Counter(bar))
    else:
        points, stats = read_points(list(sources), make_remote, filters, cache)
    for reason in stats.skipped:
        click.echo(f"skipped: {reason}", err=True)
    if not points:
        raise UserError(f"no scenario summary under {', '.join(sources)}" + (" matching the filters" if since or pattern else "")
                        + ": give s3://BUCKET/PREFIX or a directory of runs")
    settings = Settings(baseline_runs=baseline_runs, min_baseline=min_baseline, k=k)
    trends = trend(points, settings)
    page = write_trend(output, trends, list(sources), settings, now.isoformat(timespec="seconds"))
    regressions = [r for st in trends for r in st.regressions]
    for r in regressions:
        click.echo("regression: " + describe(r))
    judged = len({p.run_id for p in points})
    click.echo(f"{len(regressions)} regression(s) in {len(trends)} scenario(s) over {judged} run(s) "
               f"({stats.runs_from_cache} from the cache, {stats.summaries_fetched} summaries fetched, "
               f"{stats.list_calls} list calls) in {time.monotonic() - started:.1f} s")
    click.echo(f"trend page: {page}")
    if publish:
        url = next(s for s in sources if s.startswith("s3://"))
        names = [PAGE_NAME] + [png_name(st.scenario) for st in trends]
        click.echo(f"published to {publish_page(make_remote(url), output, names)}")
    if fail_on_regression and regressions:
        sys.exit(exits.FAIL)

"""`ft-runner results ...`: list, download, show, compare and upload saved result trees.

Exit codes: 0 done; 1 a download that is incomplete or failed verification, or
`compare --fail-on-regression` that found one; 2 bad input (one line naming the
fix); 3 `upload` could not put the whole tree in the store.
"""

from __future__ import annotations

import sys
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
    """Saved result trees: list runs in S3, download, re-print tables, compare two runs."""


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

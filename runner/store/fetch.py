"""Reading result trees back from S3: list runs, read summaries, download with sha256 checks.

Listing reads the run's `summary.json` (one small GET per run), never whole
trees. A download follows the run's `manifest.json` and verifies the size and
sha256 of every file; a file already present locally with the right sha256 is
kept (so an interrupted download can be resumed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions as bce
from boto3.s3.transfer import TransferConfig

from runner.core.config import S3Config
from runner.core.errors import UserError
from runner.store.resultdir import SUMMARY, parse_summary
from runner.store.s3 import (
    MANIFEST,
    ManifestEntry,
    RetryPolicy,
    describe,
    is_safe_relpath,
    is_transient,
    join_key,
    make_client,
    parse_manifest,
    parse_s3_url,
    sha256_file,
    with_retries,
)
from runner.results.summary import RunSummary, ScenarioSummary


class Remote:
    """One bucket + prefix, with errors turned into one-line UserErrors."""

    def __init__(self, s3: S3Config, url: str, retry: RetryPolicy = RetryPolicy(), client=None) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.s3 = s3.model_copy(update={"bucket": self.bucket, "prefix": self.prefix})
        self.retry = retry
        self.url = url.rstrip("/")
        try:
            self.client = client or make_client(self.s3, retry)
        except Exception as exc:  # noqa: BLE001 - bad endpoint URL, region, ...
            raise UserError(describe(exc, self.bucket, s3.endpoint)) from exc

    def fail(self, exc: BaseException) -> UserError:
        return UserError(describe(exc, self.bucket, self.s3.endpoint))

    def call(self, fn: Callable[[], object]):
        try:
            return with_retries(fn, self.retry)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self.fail(exc) from exc

    def get(self, key: str) -> bytes | None:
        """An object's bytes, or None when there is no such key."""

        def fetch():
            try:
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except bce.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise

        return self.call(fetch)

    def listdir(self, prefix: str) -> tuple[list[str], list[str]]:
        """(sub-folder names, object names) directly under prefix."""
        folders: list[str] = []
        files: list[str] = []
        base = prefix + "/" if prefix else ""

        def walk():
            folders.clear()
            files.clear()
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/")
            for page in pages:
                folders.extend(cp["Prefix"][len(base):].rstrip("/") for cp in page.get("CommonPrefixes", []))
                files.extend(obj["Key"][len(base):] for obj in page.get("Contents", []))

        self.call(walk)
        return folders, files


# --- listing ------------------------------------------------------------------------


@dataclass
class RunListing:
    run_id: str
    platform: str = ""
    started_at: str = ""
    complete: bool = False  # manifest.json present: the final upload pass finished
    scenarios: list[tuple[str, str]] = field(default_factory=list)  # (name, verdict)
    note: str = ""


def _read_run(remote: Remote, run_prefix: str, run_id: str) -> RunListing:
    folders, files = remote.listdir(run_prefix)
    listing = RunListing(run_id=run_id, complete=MANIFEST in files)
    if SUMMARY in files:
        data = remote.get(join_key(run_prefix, SUMMARY))
        run = parse_summary(data or b"", f"s3://{remote.bucket}/{join_key(run_prefix, SUMMARY)}")
        if isinstance(run, RunSummary):
            listing.platform, listing.started_at = run.platform, run.started_at
            listing.scenarios = [(e.scenario, e.verdict) for e in run.scenarios]
            return listing
    # No run summary yet (run still going, or its final pass did not happen): read the scenarios'.
    for name in folders:
        data = remote.get(join_key(run_prefix, name, SUMMARY))
        if data is None:
            listing.scenarios.append((name, "no summary"))
            continue
        summary = parse_summary(data, f"s3://{remote.bucket}/{join_key(run_prefix, name, SUMMARY)}")
        if isinstance(summary, ScenarioSummary):
            listing.scenarios.append((summary.scenario, summary.verdict))
            listing.platform = listing.platform or summary.platform
            listing.started_at = min(filter(None, [listing.started_at, summary.started_at]))
    listing.note = "no run summary (run unfinished or upload incomplete)" if listing.scenarios else "not a run"
    return listing


def list_runs(remote: Remote) -> list[RunListing]:
    """Every run under the URL (or the run the URL names), newest first."""
    folders, files = remote.listdir(remote.prefix)
    if SUMMARY in files and remote.prefix:  # the URL names one run
        return [_read_run(remote, remote.prefix, remote.prefix.rsplit("/", 1)[-1])]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-list") as pool:
        runs = list(pool.map(lambda name: _read_run(remote, join_key(remote.prefix, name), name), folders))
    runs = [r for r in runs if r.note != "not a run"]
    return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)


def read_remote_summaries(remote: Remote) -> tuple[RunSummary | None, list[ScenarioSummary]]:
    """The run summary and scenario summaries of the run the URL names (no tree download)."""
    folders, files = remote.listdir(remote.prefix)
    if SUMMARY not in files and not folders:
        raise UserError(f"nothing under {remote.url}: give s3://BUCKET/PREFIX/<run-id> (see `ft-runner results list`)")
    run = None
    if SUMMARY in files:
        parsed = parse_summary(remote.get(join_key(remote.prefix, SUMMARY)) or b"", f"{remote.url}/{SUMMARY}")
        if isinstance(parsed, ScenarioSummary):
            return None, [parsed]
        run = parsed
    names = [e.path or e.scenario for e in run.scenarios] if run else []
    names += [n for n in folders if n not in names]

    def one(name: str) -> ScenarioSummary | None:
        data = remote.get(join_key(remote.prefix, name, SUMMARY))
        if data is None:
            return None
        parsed = parse_summary(data, f"{remote.url}/{name}/{SUMMARY}")
        return parsed if isinstance(parsed, ScenarioSummary) else None

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-read") as pool:
        summaries = [s for s in pool.map(one, names) if s is not None]
    if run is None and not summaries:
        raise UserError(f"no summary.json under {remote.url}: give s3://BUCKET/PREFIX/<run-id> (see `ft-runner results list`)")
    return run, summaries


# --- download --------------------------------------------------------------------------


class ProgressSink:
    """Receives download progress; the CLI plugs a rich progress bar in."""

    def start(self, total_bytes: int, files: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...


@dataclass
class DownloadReport:
    run_dir: Path
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # already present locally with the right sha256
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason (missing, sha256 mismatch, error)
    bytes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def select_entries(entries: list[ManifestEntry], scenario: str | None) -> list[ManifestEntry]:
    """The whole run, or one scenario's sub-tree plus the run's top-level files."""
    if scenario is None:
        return list(entries)
    chosen = [e for e in entries if e.path.startswith(scenario + "/") or "/" not in e.path]
    if not any(e.path.startswith(scenario + "/") for e in entries):
        known = sorted({e.path.split("/", 1)[0] for e in entries if "/" in e.path})
        raise UserError(f"the run has no scenario {scenario!r}; it has: {', '.join(known) or 'none'}")
    return chosen


def download_run(remote: Remote, dest: Path, scenario: str | None = None, progress: ProgressSink | None = None,
                 workers: int = 4) -> DownloadReport:
    """Fetch the run the URL names into DEST/<run-id>/ and verify every file against manifest.json."""
    if not remote.prefix:
        raise UserError(f"{remote.url} names no run: give s3://BUCKET/PREFIX/<run-id> (see `ft-runner results list`)")
    run_id = remote.prefix.rsplit("/", 1)[-1]
    raw = remote.get(join_key(remote.prefix, MANIFEST))
    if raw is None:
        raise UserError(
            f"no {MANIFEST} under {remote.url}: the run's upload did not finish (or the URL is not a run); "
            "`ft-runner results list` shows complete runs, `ft-runner results upload` finishes an upload"
        )
    _, entries = parse_manifest(raw, f"{remote.url}/{MANIFEST}")
    entries = select_entries(entries, scenario)
    run_dir = Path(dest) / run_id
    report = DownloadReport(run_dir=run_dir)
    unsafe = [e.path for e in entries if not is_safe_relpath(e.path)]
    for path in unsafe:
        report.failed[path] = "unsafe path in the manifest (outside the run directory): not downloaded"
    entries = [e for e in entries if e.path not in unsafe]
    if progress:
        progress.start(sum(e.size for e in entries), len(entries))
    transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, max_concurrency=4)
    started = time.monotonic()

    def one(entry: ManifestEntry) -> tuple[str, str | None, int, bool]:
        target = run_dir / entry.path
        if target.is_file() and target.stat().st_size == entry.size and sha256_file(target) == entry.sha256:
            if progress:
                progress.advance(entry.size)
            return entry.path, None, 0, True
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        key = join_key(remote.prefix, entry.path)
        done = [0]

        def count(n: int) -> None:
            done[0] += n
            if progress:
                progress.advance(n)

        def fetch():
            if done[0] and progress:
                progress.advance(-done[0])  # a retried transfer starts over
            done[0] = 0
            if entry.size >= transfer.multipart_threshold:  # ranged GETs in parallel
                remote.client.download_file(remote.bucket, key, str(part), Config=transfer, Callback=count)
                return
            body = remote.client.get_object(Bucket=remote.bucket, Key=key)["Body"]
            with part.open("wb") as fh:
                for chunk in body.iter_chunks(1 << 20):
                    fh.write(chunk)
                    count(len(chunk))

        try:
            with_retries(fetch, remote.retry)
        except Exception as exc:  # noqa: BLE001 - reported per file
            part.unlink(missing_ok=True)
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
            if code in ("404", "NoSuchKey"):
                return entry.path, "listed in the manifest but missing from the store", 0, False
            reason = describe(exc, remote.bucket, remote.s3.endpoint)
            return entry.path, ("store unreachable: " + reason) if is_transient(exc) else reason, 0, False
        size = part.stat().st_size
        digest = sha256_file(part)
        if size != entry.size or digest != entry.sha256:
            part.unlink(missing_ok=True)
            return entry.path, f"sha256 mismatch (expected {entry.sha256[:12]}…, size {entry.size}; got {digest[:12]}…, size {size})", 0, False
        os.replace(part, target)
        return entry.path, None, size, False

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="s3-download") as pool:
        for path, reason, size, reused in pool.map(one, entries):
            if reason:
                report.failed[path] = reason
            elif reused:
                report.reused.append(path)
            else:
                report.downloaded.append(path)
                report.bytes += size
    report.seconds = time.monotonic() - started
    if raw is not None and not report.failed:
        (run_dir / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / MANIFEST).write_bytes(raw)
    return report

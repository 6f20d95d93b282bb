"""The history of many runs, for `ft-runner results trend`: only the scenarios' summary.json files are read.

In S3 the run folders under s3://B/P are listed a page (1000 runs) at a time. The runs not already
in the cache are listed for their `<scenario>/summary.json` keys and whether their `manifest.json`
is there: one by one when they are few (a new night), else in one paginated listing of the whole
prefix (a first read). Only those summaries are fetched, in parallel. A run whose upload is
complete (manifest present) never changes again: its points are kept in a local JSON cache, so the
next night reads the new run alone. A local source is a run directory or a directory of runs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runner.core.errors import UserError
from runner.results.summary import ScenarioSummary
from runner.results.trend import TREND_DIR, Point, point_of
from runner.store.fetch import Remote
from runner.store.resultdir import SUMMARY, parse_summary, read_summary
from runner.store.s3 import MANIFEST, join_key

CACHE_VERSION = 1
PER_RUN_LISTING = 20  # more runs to read than this: one listing of the whole prefix instead of one per run
Progress = Callable[[str, int, int | None], None]  # (what, done, total or None)


def _quiet(what: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    scenario: str | None = None  # an fnmatch pattern on the scenario name

    def name_ok(self, name: str) -> bool:
        return self.scenario is None or fnmatch.fnmatchcase(name, self.scenario)

    def point_ok(self, p: Point) -> bool:
        return self.name_ok(p.scenario) and (self.since is None or _parse_time(p.started_at) >= self.since)


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass
class Stats:
    """What one read did: for the CLI's last line and the benchmark."""

    runs: int = 0
    runs_from_cache: int = 0
    list_calls: int = 0
    summaries_fetched: int = 0
    points: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable summaries, with the reason
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


# --- local ---------------------------------------------------------------------------------


def local_points(directory: Path, filters: Filters, stats: Stats) -> list[Point]:
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory: give a run directory, a directory of runs or s3://BUCKET/PREFIX")
    one_run = (directory / SUMMARY).is_file()
    paths = sorted(directory.glob(f"*/{SUMMARY}" if one_run else f"*/*/{SUMMARY}"))
    points = []
    runs = set()
    for path in paths:
        if not filters.name_ok(path.parent.name):
            continue
        try:
            parsed = read_summary(path)
        except UserError as exc:
            stats.skipped.append(str(exc))
            continue
        if isinstance(parsed, ScenarioSummary):
            runs.add(parsed.run_id)
            points.append(point_of(parsed))
    stats.runs += len(runs)
    return [p for p in points if filters.point_ok(p)]


# --- the cache -----------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ft-runner" / "trend"


class Cache:
    """{run_id: {"scenarios": {name: summary key}, "points": {name: Point}}}, of complete runs only (a run that
    is gone from the store is simply not listed again)."""

    def __init__(self, directory: Path | None, remote: Remote) -> None:
        where = f"{remote.s3.endpoint or ''}|{remote.bucket}|{remote.prefix}"
        name = hashlib.sha256(where.encode()).hexdigest()[:24] + ".json"
        self.path = None if directory is None else Path(directory) / name
        self.runs: dict[str, dict] = {}
        if self.path and self.path.is_file():
            try:
                body = json.loads(self.path.read_text())
                if body.get("version") == CACHE_VERSION:
                    self.runs = body["runs"]
            except (ValueError, KeyError, OSError):
                self.runs = {}  # a damaged cache is only a slower read

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "runs": self.runs}))
        os.replace(tmp, self.path)


# --- S3 -----------------------------------------------------------------------------------


@dataclass
class _RunKeys:
    run_id: str
    complete: bool = False
    summaries: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # scenario -> (key, last modified)


def _pages(remote: Remote, prefix: str, delimiter: str | None, stats: Stats) -> Iterator[dict]:
    args = {"Bucket": remote.bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": 1000}}
    if delimiter:
        args["Delimiter"] = delimiter
    pages = remote.client.get_paginator("list_objects_v2").paginate(**args)
    for page in pages:
        stats.count("list_calls")
        yield page


def run_ids(remote: Remote, stats: Stats, progress: Progress = _quiet) -> list[str]:
    base = remote.prefix + "/" if remote.prefix else ""

    def walk() -> list[str]:
        found = []
        for page in _pages(remote, base, "/", stats):
            found += [cp["Prefix"][len(base):].rstrip("/") for cp in page.get("CommonPrefixes", [])]
            progress("listing runs", len(found), None)
        return found

    return [r for r in remote.call(walk) if r != TREND_DIR]


def _add(keys: _RunKeys, rel: str, obj: dict) -> None:
    """One object of a run (its key relative to the run folder) into what the trend needs of it."""
    if rel == MANIFEST:
        keys.complete = True
    parts = rel.split("/")
    if len(parts) == 2 and parts[1] == SUMMARY:
        keys.summaries[parts[0]] = (obj["Key"], obj["LastModified"])


def _run_keys(remote: Remote, run_id: str, stats: Stats) -> _RunKeys:
    base = join_key(remote.prefix, run_id) + "/"

    def walk() -> _RunKeys:
        keys = _RunKeys(run_id)
        for page in _pages(remote, base, None, stats):
            for obj in page.get("Contents", []):
                _add(keys, obj["Key"][len(base):], obj)
        return keys

    return remote.call(walk)


def _all_keys(remote: Remote, wanted: set[str], stats: Stats, progress: Progress) -> dict[str, _RunKeys]:
    """The keys of many runs in one listing of the whole prefix (a page holds 1000 objects of any run)."""
    base = remote.prefix + "/" if remote.prefix else ""

    def walk() -> dict[str, _RunKeys]:
        found: dict[str, _RunKeys] = {}
        seen = 0
        for page in _pages(remote, base, None, stats):
            for obj in page.get("Contents", []):
                run, _, rel = obj["Key"][len(base):].partition("/")
                if run in wanted:
                    _add(found.setdefault(run, _RunKeys(run)), rel, obj)
            seen += len(page.get("Contents", []))
            progress("listing objects", seen, None)
        return found

    return remote.call(walk)


def keys_of(remote: Remote, wanted: set[str], stats: Stats, progress: Progress, pool) -> dict[str, _RunKeys]:
    """A few runs are listed one by one (the nightly case); many at once, in one paginated listing."""
    if len(wanted) > PER_RUN_LISTING:
        found = _all_keys(remote, wanted, stats, progress)
        return {r: found.get(r, _RunKeys(r)) for r in wanted}
    return dict(zip(wanted, pool.map(lambda r: _run_keys(remote, r, stats), wanted)))


def _fetch_point(remote: Remote, key: str, stats: Stats) -> Point | None:
    data = remote.get(key)
    stats.count("summaries_fetched")
    if data is None:
        return None
    try:
        parsed = parse_summary(data, f"s3://{remote.bucket}/{key}")
    except UserError as exc:
        stats.skipped.append(str(exc))
        return None
    return point_of(parsed) if isinstance(parsed, ScenarioSummary) else None


def _read_run(remote: Remote, run_id: str, keys: _RunKeys | None, cache: Cache, filters: Filters,
              stats: Stats) -> list[Point]:
    cached = cache.runs.get(run_id)
    if cached is None:
        scenarios = {name: key for name, (key, _) in keys.summaries.items()}
        fresh = {name for name, (_, modified) in keys.summaries.items()
                 if filters.since is None or modified >= filters.since}
        entry = {"scenarios": scenarios, "points": {}}
    else:
        stats.count("runs_from_cache")
        entry, fresh = cached, set(cached["scenarios"])
    for name, key in entry["scenarios"].items():
        if name in entry["points"] or name not in fresh or not filters.name_ok(name):
            continue
        point = _fetch_point(remote, key, stats)
        if point is not None:
            entry["points"][name] = asdict(point)
    if cached is None and keys.complete:
        cache.runs[run_id] = entry
    return [p for p in (Point(**d) for d in entry["points"].values()) if filters.point_ok(p)]


def remote_points(remote: Remote, filters: Filters, cache_dir: Path | None, stats: Stats,
                  progress: Progress = _quiet, workers: int = 10) -> list[Point]:
    cache = Cache(cache_dir, remote)
    ids = run_ids(remote, stats, progress)
    stats.runs += len(ids)
    points: list[Point] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-trend") as pool:
        keys = keys_of(remote, {r for r in ids if r not in cache.runs}, stats, progress, pool)
        read = pool.map(lambda r: _read_run(remote, r, keys.get(r), cache, filters, stats), ids)
        for done, found in enumerate(read, 1):
            points += found
            if done % 50 == 0 or done == len(ids):
                progress("reading summaries", done, len(ids))
    cache.save()
    return points


def read_points(sources: list[str], make_remote: Callable[[str], Remote], filters: Filters,
                cache_dir: Path | None, progress: Progress = _quiet) -> tuple[list[Point], Stats]:
    """Every point of every source (s3:// URLs and local directories), filtered."""
    stats = Stats()
    points: list[Point] = []
    for source in sources:
        if source.startswith("s3://"):
            points += remote_points(make_remote(source), filters, cache_dir, stats, progress)
        else:
            points += local_points(Path(source), filters, stats)
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in points:  # the same run in two sources counts once
        if (p.run_id, p.scenario) not in seen:
            seen.add((p.run_id, p.scenario))
            unique.append(p)
    stats.points = len(unique)
    return unique, stats


def publish(remote: Remote, out_dir: Path, names: list[str]) -> str:
    """Upload the trend page and its PNGs to s3://B/P/_trend/; returns the page's URL."""
    prefix = join_key(remote.prefix, TREND_DIR)
    for name in names:
        body = (Path(out_dir) / name).read_bytes()
        kind = "text/html; charset=utf-8" if name.endswith(".html") else "image/png"
        remote.call(lambda: remote.client.put_object(Bucket=remote.bucket, Key=join_key(prefix, name), Body=body,
                                                     ContentType=kind))
    return f"s3://{join_key(remote.bucket, prefix, names[0])}"

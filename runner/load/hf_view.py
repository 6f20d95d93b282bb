"""A local tokenizer directory shown to aiperf as a cached Hugging Face hub repository.

aiperf 0.13 counts only hub ids as cached: a tokenizer given as a directory is "prefetched" in a
subprocess on every start (~2 s on 2 cores), and with HF_HUB_OFFLINE set it refuses the directory
as an invalid repo id. In the hub cache's own layout (models--<org>--<name>/refs/main naming a
snapshot of the files) the same files load offline with no prefetch and nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

VIEW_ORG = "ft-runner-local"


def view_root() -> Path:
    return Path(tempfile.gettempdir()) / f"ft-runner-hf-view-{os.getuid()}"


def repo_id(directory: Path) -> str:
    digest = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:12]
    return f"{VIEW_ORG}/{directory.name}-{digest}"


def snapshot_name(directory: Path) -> str:
    """Changes when any file of the directory does, so an edited tokenizer gets a fresh snapshot."""
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir() if p.is_file())
    return hashlib.sha1(repr(stats).encode()).hexdigest()


def ensure_view(directory: Path, root: Path | None = None) -> tuple[str, Path]:
    """(repo id, hub cache dir) under which `directory`'s files are a cached repository."""
    root = root or view_root()
    repo = repo_id(directory)
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snapshot = snapshot_name(directory)
    if not (repo_dir / "snapshots" / snapshot).is_dir():
        _write_snapshot(directory, repo_dir, snapshot)
    _write_atomically(repo_dir / "refs" / "main", snapshot)
    return repo, root


def _write_snapshot(directory: Path, repo_dir: Path, snapshot: str) -> None:
    (repo_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=repo_dir / "snapshots"))
    for source in directory.iterdir():
        if source.is_file():
            (staging / source.name).symlink_to(source.resolve())
    try:
        staging.rename(repo_dir / "snapshots" / snapshot)
    except OSError:  # another launch wrote the same snapshot first
        for link in staging.iterdir():
            link.unlink()
        staging.rmdir()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(text)
    staging.replace(path)

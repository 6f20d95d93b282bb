"""Shared fixtures: paths to the reference material beside the repo, the CLI, the local model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"reference material not found at {SHARED} (it lies beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def ft_runner() -> Path:
    exe = Path(sys.executable).with_name("ft-runner")
    assert exe.exists(), "ft-runner is not installed in this environment; run `make setup`"
    return exe


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from runner.platforms.local.env import default_model_dir
    from runner.platforms.local.tiny_model import make_tiny_model, missing_files

    default = default_model_dir()
    if default.is_dir() and not missing_files(default):
        return default
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-llm")

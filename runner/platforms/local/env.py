"""Where the local platform finds its prerequisites: the model directory and ai-dynamo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.core.errors import UserError

DYNAMO_VERSION = "1.6.1"


def default_model_dir() -> Path:
    env = os.environ.get("FT_RUNNER_MODEL_DIR")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dynamo-ft-runner" / "models" / "tiny-llm"


def resolve_model_dir(configured: Path | None) -> Path:
    from runner.platforms.local.tiny_model import missing_files

    model_dir = (configured or default_model_dir()).expanduser().resolve()
    if not model_dir.is_dir():
        raise UserError(
            f"model directory {model_dir} does not exist; create it with `ft-runner make-model {model_dir}` "
            "(or `make setup`), or pass --model-dir"
        )
    missing = missing_files(model_dir)
    if missing:
        raise UserError(
            f"model directory {model_dir} lacks {', '.join(missing)} (the tokenizer the frontend and aiperf need); "
            f"recreate it with `ft-runner make-model {model_dir}`"
        )
    return model_dir


def check_dynamo(python: Path | None) -> Path:
    """The interpreter that runs Dynamo, after checking it has ai-dynamo 1.6.1."""
    interpreter = Path(python) if python else Path(sys.executable)
    probe = (
        "import importlib.metadata as m, importlib.util as u;"
        "print(m.version('ai-dynamo'));"
        "assert u.find_spec('dynamo.frontend') and u.find_spec('dynamo.mocker')"
    )
    try:
        out = subprocess.run([str(interpreter), "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {interpreter}: {exc}") from exc
    if out.returncode != 0:
        raise UserError(
            f"ai-dynamo is not installed for {interpreter}; run `make setup` "
            f"(pip install --no-deps ai-dynamo=={DYNAMO_VERSION} && pip install -r requirements/dynamo.txt)"
        )
    version = out.stdout.strip()
    if version != DYNAMO_VERSION:
        raise UserError(f"ai-dynamo {version} found, {DYNAMO_VERSION} needed; run `make setup`")
    return interpreter

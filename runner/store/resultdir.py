"""Reading a saved result tree: the run's summary and its scenarios' summaries.

A run directory holds `summary.json` (RunSummary) and one folder per scenario
with its own `summary.json` (ScenarioSummary). A scenario directory alone is
accepted too. Bad input is a UserError naming the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from runner.core.errors import UserError
from runner.results.summary import RunSummary, ScenarioSummary

SUMMARY = "summary.json"


def parse_summary(text: str | bytes, where: str) -> RunSummary | ScenarioSummary:
    """A summary.json of either kind: a scenario's has a `scenario` field, a run's has not."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"{where} is not JSON ({exc}); the file is damaged or not a summary") from exc
    if not isinstance(data, dict):
        raise UserError(f"{where} is not a summary object")
    model = ScenarioSummary if "scenario" in data else RunSummary
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{where} does not match the {model.__name__} schema ({loc}: {first['msg']})") from exc


def read_summary(path: Path) -> RunSummary | ScenarioSummary:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_summary(text, str(path))


def load_local(directory: Path) -> tuple[RunSummary | None, list[ScenarioSummary]]:
    """The run summary (None for a lone scenario or an unfinished run) and the scenario summaries."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory: give a run directory (<output>/<run-id>) or a scenario directory")
    top = directory / SUMMARY
    run: RunSummary | None = None
    if top.is_file():
        parsed = read_summary(top)
        if isinstance(parsed, ScenarioSummary):
            return None, [parsed]
        run = parsed
    names = [e.path or e.scenario for e in run.scenarios] if run else []
    found = sorted(p.parent.name for p in directory.glob(f"*/{SUMMARY}"))
    ordered = names + [n for n in found if n not in names]
    summaries = []
    for name in ordered:
        path = directory / name / SUMMARY
        if path.is_file():
            parsed = read_summary(path)
            if isinstance(parsed, ScenarioSummary):
                summaries.append(parsed)
    if run is None and not summaries:
        raise UserError(f"{directory} holds no summary.json: give a run directory (<output>/<run-id>) or a scenario directory")
    return run, summaries

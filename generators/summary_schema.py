"""Generate `runner/schemas/summary.schema.json` from the models in runner.results.summary.

    python -m generators.summary_schema          # (re)write the file
    python -m generators.summary_schema --check  # exit 1 if the committed file is stale

The schema accepts either kind of summary.json: a scenario's (ScenarioSummary)
or a run's (RunSummary). Both are also under `$defs` for consumers that know
which one they hold. Bump runner.results.summary.SCHEMA_VERSION on incompatible changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic.json_schema import models_json_schema

from runner.results.summary import SCHEMA_VERSION, RunSummary, ScenarioSummary

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "runner" / "schemas" / "summary.schema.json"
SCHEMA_ID = f"urn:dynamo-ft-runner:schema:summary:{SCHEMA_VERSION}"


def build_schema() -> dict:
    _, top = models_json_schema([(ScenarioSummary, "validation"), (RunSummary, "validation")],
                                ref_template="#/$defs/{model}")
    defs = top["$defs"]
    for name in ("ScenarioSummary", "RunSummary"):
        major = SCHEMA_VERSION.split(".")[0]
        defs[name]["properties"]["schema_version"]["pattern"] = rf"^{major}\.[0-9]+$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dynamo-ft-runner summary.json",
        "description": (
            "summary.json of a scenario (<run-id>/<scenario>/summary.json, ScenarioSummary) or of a run "
            f"(<run-id>/summary.json, RunSummary). Schema version {SCHEMA_VERSION}; generated from runner/results/summary.py "
            "by `python -m generators.summary_schema`."
        ),
        "x-schema-version": SCHEMA_VERSION,
        "oneOf": [{"$ref": "#/$defs/ScenarioSummary"}, {"$ref": "#/$defs/RunSummary"}],
        "$defs": dict(sorted(defs.items())),
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.summary_schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the models")
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `python -m generators.summary_schema`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

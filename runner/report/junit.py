"""`junit.xml`: one testcase per scenario, for CI dashboards.

PASS -> a passing testcase; FAIL -> <failure> whose message names the failed
stage-1 / stage-2 checks; ERROR -> <error> (the scenario could not be measured);
EXPECTED-LIMITATION -> <skipped> with the reason (not a failure, but visible).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from runner.results.summary import RunSummary, ScenarioSummary

JUNIT_NAME = "junit.xml"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_INVALID.sub("?", text)


def _seconds(start: str | None, end: str | None) -> float:
    try:
        return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def failed_checks(s: ScenarioSummary) -> list[str]:
    lines = []
    for label, stage in (("stage 1", s.stage1), ("stage 2", s.stage2)):
        for c in stage.checks:
            if c.status in ("FAIL", "ERROR"):
                lines.append(f"{label}: {c.name}: {c.status}" + (f" - {c.detail}" if c.detail else ""))
        if stage.status in ("FAIL", "ERROR") and not any(line.startswith(label) for line in lines):
            lines.append(f"{label}: {stage.status}")
    return lines


def testcase(s: ScenarioSummary) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": f"ft-runner.{s.group or s.backend}",
        "name": s.scenario,
        "time": f"{_seconds(s.started_at, s.finished_at):.3f}",
    })
    props = ET.SubElement(case, "properties")
    for name, value in (("verdict", s.verdict), ("success_rate", s.total.success_rate),
                        ("service_recovery_s", s.timings.service_recovery_s),
                        ("infrastructure_recovery_s", s.timings.infrastructure_recovery_s),
                        ("requests", s.total.requests), ("failure", s.failure)):
        ET.SubElement(props, "property", {"name": name, "value": _clean("" if value is None else str(value))})
    checks = failed_checks(s)
    reasons = list(s.reasons)
    if s.verdict == "FAIL":
        message = "; ".join(checks) or "; ".join(reasons) or "the scenario failed"
        failure = ET.SubElement(case, "failure", {"message": _clean(message), "type": "FAIL"})
        failure.text = _clean("\n".join(checks + reasons))
    elif s.verdict == "ERROR":
        message = "; ".join(reasons) or "; ".join(checks) or "the scenario could not be measured"
        error = ET.SubElement(case, "error", {"message": _clean(message), "type": "ERROR"})
        error.text = _clean("\n".join(reasons + checks))
    elif s.verdict == "EXPECTED-LIMITATION":
        ET.SubElement(case, "skipped", {"message": _clean("expected limitation: " + ("; ".join(reasons) or s.failure))})
    if reasons:
        ET.SubElement(case, "system-out").text = _clean("\n".join(reasons))
    return case


def render(run: RunSummary, summaries: Sequence[ScenarioSummary]) -> bytes:
    cases = [testcase(s) for s in summaries]
    counts = {
        "tests": str(len(summaries)),
        "failures": str(sum(s.verdict == "FAIL" for s in summaries)),
        "errors": str(sum(s.verdict == "ERROR" for s in summaries)),
        "skipped": str(sum(s.verdict == "EXPECTED-LIMITATION" for s in summaries)),
        "time": f"{sum(_seconds(s.started_at, s.finished_at) for s in summaries):.3f}",
    }
    root = ET.Element("testsuites", {"name": "ft-runner", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"ft-runner.{run.run_id}", "timestamp": run.started_at, **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", run.run_id), ("platform", run.platform), ("exit_code", run.exit_code)):
        ET.SubElement(props, "property", {"name": name, "value": _clean("" if value is None else str(value))})
    suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(run_dir: Path, run: RunSummary, summaries: Sequence[ScenarioSummary]) -> Path:
    target = Path(run_dir) / JUNIT_NAME
    target.write_bytes(render(run, summaries))
    return target

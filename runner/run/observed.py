"""What one scenario run measured, before analysis."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from runner.faults.evidence import Evidence
from runner.results.frontend_log import TreeView
from runner.results.records import Record
from runner.results.summary import FaultRecord

log = logging.getLogger("runner")


@dataclass
class StepRecord:
    """One step of the scenario's timeline as it ran: when, what it hit, whether its condition was met."""

    index: int
    kind: str  # load | fault | wait
    text: str
    started_ns: int
    ended_ns: int | None = None
    fault: FaultRecord | None = None
    evidence: list[Evidence] = field(default_factory=list)
    met: bool | None = None  # waits: the condition came true within the step's timeout
    detail: str = ""


@dataclass
class Observed:
    """What one scenario run measured, before analysis."""

    startup_s: float | None = None
    startup_reason: str | None = None
    fault: FaultRecord | None = None
    evidence: list[Evidence] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    probe_records: list[Record] = field(default_factory=list)
    phases: dict[str, list[Record]] = field(default_factory=dict)
    restarts: int = 0
    frontend_requests: int | None = None
    server: TreeView | None = None  # the frontends' request log lines, read from the collected tree
    migration_metric: int | None = None
    errors: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    role_dirs: dict[str, str] = field(default_factory=dict)  # service directory of the tree -> role


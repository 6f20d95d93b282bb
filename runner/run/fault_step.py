"""The fault step of a scenario's timeline: snapshot the targets, inject, verify, and always restore.

The fault module (runner/faults/) says what to do; this step owns the order, the stamps, the
evidence and the restore, which runs even when verifying failed or the run was interrupted.
"""

from __future__ import annotations

import asyncio
import json
import logging

from runner.faults.base import Fault
from runner.faults.evidence import Evidence, assemble, with_restore
from runner.platforms.base import Deployment
from runner.results.evidence import select_targets
from runner.results.summary import FaultRecord
from runner.run.observed import Observed
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")


async def run_fault(scenario: Scenario, deployment: Deployment, ui: ProgressUI, observed: Observed) -> None:
    fault, settings = scenario.entry.fault, scenario.config.fault
    targets = select_targets(deployment.replicas(fault.role), settings.targets, settings.seed)
    before = await deployment.snapshot(fault.role, targets, fault.processes)
    log.info("Injecting %s into %s; before: %s", fault.name, ", ".join(targets), json.dumps(before))
    stamps = await fault.inject(deployment, targets)
    observed.fault = FaultRecord(name=fault.name, kind=fault.kind, role=fault.role, seed=settings.seed,
                                 targets=targets, injected_ns=min(s["injected_ns"] for s in stamps))
    ui.phase(f"fault injected: {fault.name} -> {', '.join(targets)}")
    observed.evidence = [assemble(b, s, {"detail": "not verified"}) for b, s in zip(before, stamps, strict=True)]
    interrupted = False
    try:
        ui.phase("recovering")
        after = await fault.check(deployment, before, stamps, settings)
        observed.evidence = [assemble(b, s, a) for b, s, a in zip(before, stamps, after, strict=True)]
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        await _restore(fault, deployment, observed, settings, at_once=interrupted)
        _conclude(observed.fault, observed.evidence, ui)


async def _restore(fault: Fault, deployment: Deployment, observed: Observed, settings, at_once: bool) -> None:
    """Undo the fault; interrupted, at once (a stall is continued now rather than after its duration)."""
    restored = await asyncio.shield(fault.restore(deployment, observed.evidence, settings, at_once))
    if restored is not None:
        observed.evidence = [with_restore(e, r) for e, r in zip(observed.evidence, restored, strict=True)]


def _conclude(record: FaultRecord, evidence: list[Evidence], ui: ProgressUI) -> None:
    record.took_effect = all(e.took_effect for e in evidence)
    record.detail = "; ".join(e.detail for e in evidence)
    log.info("Fault evidence: %s", record.detail)
    ui.phase(("fault took effect: " if record.took_effect else "[red]fault did NOT take effect:[/] ") + record.detail)

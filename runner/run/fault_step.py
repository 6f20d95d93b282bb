"""The fault step of a scenario's timeline: snapshot the targets, inject, verify, and always restore.

The fault module (runner/faults/) says what to do; this step owns the order, the stamps, the
evidence and the restore, which runs even when verifying failed or the run was interrupted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from runner.faults.base import Fault
from runner.faults.evidence import Evidence, assemble, with_restore
from runner.platforms.base import Deployment, PlatformError
from runner.results.evidence import select_targets
from runner.results.summary import FaultRecord
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")


class FaultHolder(Protocol):
    """Where a fault step keeps its record and evidence (a timeline step; Observed for the scenario's first)."""

    fault: FaultRecord | None
    evidence: list[Evidence]


def choose_targets(fault: Fault, replicas: list[str], target: int | str, settings, step: int = 0) -> list[str]:
    """A rollout hits every replica; else the replica at an index, all of them, or fault.targets at random
    (seeded by fault.seed plus the fault step's number, so a catalog scenario's one fault keeps its seed)."""
    if fault.every_replica or target == "all":
        return list(replicas)
    if isinstance(target, int):
        if target >= len(replicas):
            raise PlatformError(f"{fault.name}: no {fault.role} replica {target} ({len(replicas)} exist, from 0)")
        return [replicas[target]]
    return select_targets(replicas, settings.targets, settings.seed + step)


async def run_fault(scenario: Scenario, deployment: Deployment, ui: ProgressUI, observed: FaultHolder,
                    fault: Fault | None = None, target: int | str = "random", step: int = 0) -> None:
    fault, settings = fault or scenario.entry.fault, scenario.config.fault
    targets = choose_targets(fault, deployment.replicas(fault.role), target, settings, step)
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


async def _restore(fault: Fault, deployment: Deployment, observed: FaultHolder, settings, at_once: bool) -> None:
    """Undo the fault; interrupted, at once (a stall is continued now rather than after its duration)."""
    restored = await asyncio.shield(fault.restore(deployment, observed.evidence, settings, at_once))
    if restored is not None:
        observed.evidence = [with_restore(e, r) for e, r in zip(observed.evidence, restored, strict=True)]


def _conclude(record: FaultRecord, evidence: list[Evidence], ui: ProgressUI) -> None:
    record.took_effect = all(e.took_effect for e in evidence)
    record.detail = "; ".join(e.detail for e in evidence)
    log.info("Fault evidence: %s", record.detail)
    ui.phase(("fault took effect: " if record.took_effect else "[red]fault did NOT take effect:[/] ") + record.detail)

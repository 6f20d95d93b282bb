"""finish(): join, analyze, validate and write summary.json, faults.json and the request join.

Pure but for the writes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from runner.faults.evidence import EVIDENCE_VERSION
from runner.results.analysis import analyze, analyze_phases, in_flight, probe_recovery, window
from runner.results.checks import judge
from runner.results.load_faults import cancel_storm_result, outage_result, overload_result
from runner.results.observe import iso_from_ns
from runner.results.records import Record
from runner.results.request_join import (
    FrontendFault,
    Join,
    expected_counter_difference,
    join,
    join_lines,
    join_summary,
    migrations,
    partition_routing,
    replica_traffic,
    stall_routing,
)
from runner.results.rollout import rollout_view
from runner.results.steps import step_happened, step_summaries
from runner.results.summary import (
    CrossCheck,
    LoadInfo,
    Rollout,
    ScenarioSummary,
    Timings,
)
from runner.run.files import write_json
from runner.run.observed import Observed
from runner.run.server_step import add_step_server_checks, judge_server_checks
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")


def finish(scenario: Scenario, tree: Path, run_id: str, started: int, observed: Observed) -> ScenarioSummary:
    """Join, analyze, validate and write summary.json, faults.json and the join. Pure but for the writes."""
    entry, cfg = scenario.entry, scenario.config
    fault_ns = observed.fault.injected_ns if observed.fault else None
    k = cfg.checks.consecutive_successes
    joined = _join_requests(scenario, observed, tree)
    timings = Timings(startup_s=observed.startup_s, startup_reason=observed.startup_reason, fault_ns=fault_ns)
    result = analyze_phases(observed.phases, k) if observed.phases else analyze(observed.records, fault_ns, k)
    timings.service_recovery_s = result.service_recovery_s
    timings.service_recovery_reason = result.service_recovery_reason
    timings.service_recovery_resolution_s = result.service_recovery_resolution_s
    timings.first_success_ns = result.first_success_ns
    timings.infrastructure_recovery_s, timings.infrastructure_recovery_reason = _infra_recovery(observed)
    _probe_timings(timings, observed.probe_records, fault_ns, k)
    stall = _routing_until_restored(observed, joined, ("stall",), "continued_ns", stall_routing)
    rollout = _rollout(scenario, observed)
    steps = step_summaries(observed.steps, _expects(scenario, observed), observed.records, k)
    add_step_server_checks(scenario, observed, tree, steps)
    partition = _routing_until_restored(observed, joined, ("partition", "reset"), "healed_ns",
                                        partition_routing)
    overload = (overload_result(observed.evidence, observed.records, cfg.fault.overload.recovery_s)
                if entry.fault_kind == "overload" and observed.evidence else None)
    storm = cancel_storm_result(observed.evidence) if entry.fault_kind == "cancel_storm" and observed.evidence else None
    server = judge_server_checks(scenario, observed, tree)
    stage1, stage2, verdict, reasons = judge(
        entry=entry, checks=cfg.checks, targets=cfg.fault.targets, analysis=result, fault=observed.fault,
        evidence=observed.evidence, restarts=observed.restarts, errors=observed.errors, stall=stall, rollout=rollout,
        partition=partition, overload=overload, cancel_storm=storm, server=server,
        steps_happened=step_happened(steps) if scenario.from_file else (),
        step_checks=[c for s in steps for c in s.checks],
    )
    load = scenario.load
    summary = ScenarioSummary(
        run_id=run_id, scenario=entry.name, group=entry.deployment_name, backend=entry.backend, mode=entry.mode,
        tp=entry.tp, dp=entry.dp, failure=entry.failure, migration_limit=scenario.migration_limit,
        platform=scenario.platform, verdict=verdict,
        reasons=reasons, started_at=iso_from_ns(started), finished_at=iso_from_ns(time.time_ns()),
        load=LoadInfo(client=load.client, mode=load.aiperf_mode if load.client == "aiperf" else "in-process",
                      clients=load.clients, requests_per_client=load.requests_per_client,
                      streaming=load.streaming, input_tokens=load.input_tokens, output_tokens=load.output_tokens),
        timings=timings, fault=observed.fault, total=result.total, before=result.before, after=result.after,
        after_recovery=result.after_recovery, phases=result.phases, cross_check=_cross_check(observed, joined),
        server_checks=server, stage1=stage1, stage2=stage2,
    )
    if observed.probe_records:
        summary.probe = window(observed.probe_records)
    summary.stall, summary.rollout, summary.steps, summary.from_file = stall, rollout, steps, scenario.from_file
    summary.partition, summary.overload, summary.cancel_storm = partition, overload, storm
    if entry.fault_kind == "outage" and observed.evidence:
        summary.outage = outage_result(observed.evidence, observed.records)
    if fault_ns is not None and not observed.phases:
        summary.in_flight = in_flight(observed.records, fault_ns, _removed(observed))
    if joined is not None:
        summary.request_join = join_summary(joined)
        summary.migrations = migrations(joined, observed.migration_metric)
        summary.replicas = replica_traffic(joined, fault_ns, observed.server.replica_of_worker)
    write_json(tree / "summary.json", summary.model_dump(mode="json"))
    write_json(tree / "faults.json", {
        "version": EVIDENCE_VERSION,
        "fault": observed.fault.model_dump() if observed.fault else None,
        "evidence": [e.model_dump(mode="json") for e in observed.evidence],
        "infrastructure_recovery_s": timings.infrastructure_recovery_s,
    })
    log.info("Verdict %s%s", verdict, (": " + "; ".join(reasons)) if reasons else "")
    return summary


def _probe_timings(timings: Timings, probes: list[Record], fault_ns: int | None, k: int) -> None:
    seconds, reason, resolution = probe_recovery(probes, fault_ns, k)
    timings.probe_service_recovery_s, timings.probe_service_recovery_reason = seconds, reason
    timings.probe_service_recovery_resolution_s = resolution


LOST_TAIL_LEAD_S = 2.0  # a frontend's last lines before its fault may not reach the collected log


def _frontend_fault(scenario: Scenario, observed: Observed) -> FrontendFault | None:
    fault = observed.fault
    if fault is None or fault.role != "frontend" or fault.injected_ns is None:
        return None
    ready = [e.ready_ns for e in observed.evidence if e.ready_ns]
    end = max(ready) if ready else fault.injected_ns + int(scenario.config.fault.verify_timeout_s * 1e9)
    return FrontendFault(start_ns=fault.injected_ns - int(LOST_TAIL_LEAD_S * 1e9), end_ns=end)


def _join_requests(scenario: Scenario, observed: Observed, tree: Path) -> Join | None:
    """Join the client records with the frontends' logs; the observed records become the corrected ones."""
    if observed.server is None:
        return None
    joined = join(observed.records, observed.server.requests, _frontend_fault(scenario, observed),
                  observed.server.replica_of_worker)
    observed.records = joined.records()
    if observed.phases:
        observed.phases = {phase: [r for r in observed.records if r.phase == phase] for phase in observed.phases}
    with (tree / "requests_join.jsonl").open("w") as fh:
        for row in join_lines(joined):
            fh.write(json.dumps(row) + "\n")
    return joined


def _routing_until_restored(observed: Observed, joined: Join | None, kinds: tuple[str, ...], end_key: str,
                            routing):
    """Stall, partition and reset faults: routing to the faulted replicas from the fault until it was undone
    (SIGCONT, the heal: `end_key` of each target's restore; needs the request join)."""
    fault = observed.fault
    if fault is None or fault.kind not in kinds or joined is None or fault.injected_ns is None:
        return None
    ends = [e.restored.get(end_key) for e in observed.evidence if e.restored]
    if not ends or None in ends:
        return None
    return routing(joined, set(fault.targets), fault.injected_ns, max(ends), observed.server.replica_of_worker)


def _expects(scenario: Scenario, observed: Observed) -> list:
    return [getattr(scenario.steps[s.index], "expect", None) for s in observed.steps]


def _rollout(scenario: Scenario, observed: Observed) -> Rollout | None:
    fault = observed.fault
    if fault is None or fault.kind != "rollout" or fault.injected_ns is None or not observed.evidence:
        return None
    return rollout_view(observed.evidence, observed.records, fault.role, scenario.config.fault.rollout_strategy,
                        fault.injected_ns)


def _removed(observed: Observed) -> set[str] | None:
    """A scale-down's in-flight attempts are those on the removed replicas (named by the request join)."""
    fault = observed.fault
    if fault is None or fault.kind != "scale" or not any(r.replica for r in observed.records):
        return None
    # where the controller chose the pod (Kubernetes), the one observed to go, not the named target
    return {e.after.get("removed_pod") or e.target for e in observed.evidence} or set(fault.targets)
def _cross_check(observed: Observed, joined: Join | None) -> CrossCheck:
    cross = CrossCheck(client_requests=len(observed.records), frontend_requests=observed.frontend_requests)
    if observed.frontend_requests is not None:
        cross.difference = observed.frontend_requests - len(observed.records)
    if joined is None:
        cross.detail = "the frontend logs were not collected, so the difference cannot be explained"
        return cross
    cross.expected_difference = expected_counter_difference(joined)
    verdict = "as" if cross.difference == cross.expected_difference else "NOT as"
    fault = observed.fault
    if fault is not None and fault.role == "frontend" and fault.kind not in ("overload", "cancel_storm"):
        verdict += (" (a faulted frontend's counts after its last 1 Hz scrape are lost with it, so the counter can "
                    "fall short by what it served in its last second)")
    cross.detail = (f"{verdict} the request join predicts: the counter counts requests from `request received` on, so "
                    "it misses attempts the frontend refused before its handler (503 model not ready, 404 no worker) "
                    "or that never reached it, and adds the readiness probe and the probe stream")
    return cross


def _infra_recovery(observed: Observed) -> tuple[float | None, str | None]:
    if observed.fault is None or observed.fault.kind in ("none", "client", "overload", "cancel_storm"):
        return None, "no replica was faulted"
    if not observed.evidence:
        return None, "no fault evidence was recorded"
    ready = [e.ready_ns for e in observed.evidence]
    if any(r is None for r in ready):
        missing = [e.target for e in observed.evidence if e.ready_ns is None]
        return None, f"no ready replacement for {', '.join(missing)} within the verify timeout"
    return round((max(ready) - observed.fault.injected_ns) / 1e9, 3), None



"""The shape of `summary.json` (per scenario) and of the run's summary.

These models are the published, versioned contract of the result tree:
`runner/schemas/summary.schema.json` is generated from them (bump
SCHEMA_VERSION on any incompatible change).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.3"

Verdict = Literal["PASS", "FAIL", "ERROR", "EXPECTED-LIMITATION"]
StageStatus = Literal["PASS", "FAIL", "ERROR", "SKIPPED"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Percentiles(Model):
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    count: int = 0


class WindowStats(Model):
    """Counts and latencies of the attempts that ended inside one time window."""

    start_ns: int | None = None
    end_ns: int | None = None
    requests: int = 0
    successes: int = 0
    failures: int = 0
    success_rate: float | None = None
    throughput_rps: float | None = Field(None, description="Successful requests per second of the window.")
    latency_ms: Percentiles = Percentiles()
    ttft_ms: Percentiles = Percentiles()
    itl_ms: Percentiles = Percentiles()
    errors: dict[str, int] = Field(default_factory=dict, description="Failure counts by error text.")
    error_classes: dict[str, int] = Field(
        default_factory=dict,
        description="Failure counts by class: unavailable_503, overloaded_529, rejected_4xx, server_error_5xx, "
        "stream_error_200 (an error inside an HTTP 200 stream), connection, timeout, cancelled, other.",
    )
    end_times: dict[str, int] = Field(
        default_factory=dict,
        description="Attempts by where their end time came from: client (measured by the client), server (the "
        "frontend's completion, the client had none), start (nobody measured it: classified by its start).",
    )


class Timings(Model):
    startup_s: float | None = None
    startup_reason: str | None = None
    fault_ns: int | None = Field(None, description="Runner-clock UTC epoch ns of the fault injection.")
    first_success_ns: int | None = None
    service_recovery_s: float | None = None
    service_recovery_reason: str | None = None
    service_recovery_resolution_s: float | None = Field(
        None, description="Gap between the sending of the last failure and of the first success that bracket "
        "service recovery: the service came back somewhere inside it."
    )
    probe_service_recovery_s: float | None = Field(
        None, description="Service recovery measured by the probe stream (tiny requests at a set rate)."
    )
    probe_service_recovery_resolution_s: float | None = None
    probe_service_recovery_reason: str | None = None
    infrastructure_recovery_s: float | None = None
    infrastructure_recovery_reason: str | None = None


class CheckResult(Model):
    name: str
    status: StageStatus
    detail: str = ""


class ServerCheckResult(Model):
    """One server-side check (checks.server), judged from the collected metrics scrapes and service logs."""

    name: str
    kind: str = Field(description="inflight_drains, queue_drains, migration_counter, worker_metric_max, log_count, "
                      "no_panics.")
    verdict: Literal["PASS", "FAIL", "ERROR"] = Field(description="ERROR: the data it needs was not collected.")
    detail: str = ""
    value: float | None = Field(None, description="What was measured: seconds to drain, a count, a peak value.")
    bound: float | None = Field(None, description="The bound it was held to (null: none).")


class Stage(Model):
    status: StageStatus
    checks: list[CheckResult] = Field(default_factory=list)


class FaultRecord(Model):
    name: str
    kind: str
    role: str = ""
    seed: int | None = None
    targets: list[str] = Field(default_factory=list)
    injected_ns: int | None = None
    took_effect: bool | None = None
    detail: str = ""


class CrossCheck(Model):
    client_requests: int
    frontend_requests: int | None = None
    difference: int | None = None
    expected_difference: int | None = Field(
        None, description="The difference the request join predicts: requests the frontend counted that no client "
        "sent (readiness probe, probe stream) minus client attempts it did not count (refused before its handler, "
        "never reached it)."
    )
    detail: str = ""


class ClockOffset(Model):
    log: str = Field(description="The frontend log (pod) whose clock this is.")
    offset_ms: float = Field(description="Log time minus runner time; subtracted from the log's times.")
    lower_ms: float | None = None
    upper_ms: float | None = None
    pairs: int = Field(0, description="Attempts with both ends measured by the client that bound the offset.")
    consistent: bool = Field(True, description="False when no single offset fits every pair (the median is used).")


class RequestJoin(Model):
    """Every client attempt matched by X-Request-Id to the frontend's log line for it, or listed unmatched."""

    attempts: int = 0
    matched: int = 0
    reached_frontend: int = Field(0, description="Attempts that reached a frontend (all but those refused before).")
    match_rate: float | None = Field(None, description="matched / reached_frontend.")
    unmatched: dict[str, int] = Field(default_factory=dict, description="Unmatched attempts by reason.")
    server_requests: int = 0
    server_only: dict[str, int] = Field(
        default_factory=dict, description="Frontend requests no client attempt matches, by reason."
    )
    frontend_counted: int = Field(0, description="Frontend requests its request counter counts (`request received`).")
    end_times: dict[str, int] = Field(default_factory=dict)
    offsets: list[ClockOffset] = Field(default_factory=list)
    file: str = "requests_join.jsonl"
    detail: str = ""


class Migrations(Model):
    migrated: int = Field(0, description="Requests the frontend migrated at least once.")
    retries: int = Field(0, description="Migration retries the frontend logged.")
    succeeded: int = Field(0, description="Migrated requests whose client attempt then succeeded.")
    failed: int = 0
    refused: int = Field(0, description="Migrations the limit refused (`migration retries exhausted`; every "
                         "lost stream or dead-instance route when migration is off).")
    metric_total: int | None = Field(
        None, description="dynamo_frontend_model_migration_total at the last scrape, summed over frontends: "
        "it counts retries and refusals alike (measured on 1.6.1)."
    )
    detail: str = ""


class TrafficCounts(Model):
    requests: int = 0
    successes: int = 0
    failures: int = 0


class InFlight(Model):
    """The load's attempts under way at the fault (sent before it, ended after it)."""

    requests: int = 0
    completed: int = Field(0, description="Ended in success: drained by a graceful stop, or migrated.")
    failed: int = 0
    replicas: list[str] = Field(default_factory=list, description="Counted only on these replicas (a scale-down's "
                                "removed ones, from the request join; schema 1.3); empty: every attempt.")


class StallRouting(Model):
    """Stall faults: whether the frontend stopped sending new requests to the stopped replica."""

    routed_to_stalled: int = Field(0, description="Attempts sent during the stall that the frontend routed to it.")
    completed: int = Field(0, description="... of those, ended in success (after SIGCONT).")
    failed: int = Field(0, description="... of those, failed (a timeout, or an error after SIGCONT).")
    last_routed_after_s: float | None = Field(None, description="Stall start -> the last attempt routed to it.")
    routed_around: bool = Field(description="No attempt was routed to it in the stall's last quiet period.")
    first_success_after_continue_s: float | None = Field(
        None, description="SIGCONT -> the first attempt to succeed after it (hung ones completing count).")
    detail: str = ""


class RolloutStep(Model):
    old: str = Field(description="The replica replaced in this step.")
    new: str | None = Field(None, description="Its replacement (None: the step did not start one).")
    new_ready_s: float | None = Field(None, description="Rollout start -> the new replica ready.")
    first_served_s: float | None = Field(
        None, description="Rollout start -> the first success the new replica served (decode, from the request "
        "join; None elsewhere or when it served none).")
    old_stopped_s: float | None = Field(None, description="Rollout start -> the old replica's stop signal.")
    old_gone_s: float | None = Field(None, description="Rollout start -> the old replica's process gone.")


class Rollout(Model):
    """Rolling upgrades: each step, and the longest time the role had no routable replica."""

    strategy: str = Field(description="surge (new replica first) or replace (old one stopped first).")
    replicas: int = Field(description="Replicas of the role rolled.")
    steps: list[RolloutStep] = Field(default_factory=list)
    duration_s: float | None = Field(None, description="Rollout start -> its last step done.")
    longest_unroutable_s: float = Field(
        description="The longest window in which no replica of the role was routable: an old one until its stop "
        "signal, a new one from the first success it served (decode) or from its readiness (other roles).")
    unroutable_from_s: float | None = Field(None, description="Rollout start -> the start of that window.")
    requests: int = Field(0, description="Attempts that ended during the rollout.")
    failures: int = Field(0, description="... of those, failed.")
    detail: str = ""


class StepSummary(Model):
    """One step of the scenario's timeline: when it ran, what it hit, and the attempts that ended in it."""

    index: int = Field(description="1-based position in the timeline.")
    step: str = Field(description="What the step did, e.g. `fault decode_worker -> replica 0`.")
    kind: str = Field(description="load, fault or wait.")
    started_at: str
    started_ns: int = Field(description="When the step began (runner clock, epoch ns).")
    started_s: float = Field(description="Seconds after the timeline's first step.")
    duration_s: float | None = None
    fault: FaultRecord | None = None
    met: bool | None = Field(None, description="Waits: the condition came true within the step's timeout.")
    window: WindowStats = Field(description="Attempts that ended from this step's start to the next step's; a fault step's to the next fault or load step's (the waits after it are part of it).")
    service_recovery_s: float | None = Field(
        None, description="Fault steps: the fault -> the first of K consecutive successes after it.")
    checks: list[CheckResult] = Field(default_factory=list, description="The step's own checks (`expect`).")
    detail: str = ""


class PartitionResult(Model):
    """Partition and reset faults (schema 1.3): what the frontend did while the worker was cut off, and after."""

    requests_during: int = Field(0, description="Load attempts that ended between the cut and the heal.")
    failures_during: int = Field(0, description="... of those, failed.")
    routed_to_cut: int = Field(0, description="Attempts sent during the cut that the frontend routed to the worker.")
    completed: int = Field(0, description="... of those, ended in success (migrated, or served after the heal).")
    last_routed_after_s: float | None = Field(
        None, description="Cut -> the last attempt routed to the cut worker: the time the frontend took to detect it.")
    routed_around: bool = Field(description="No attempt was routed to it in the cut's last quiet period.")
    back_after_heal_s: float | None = Field(
        None, description="Heal -> the first successful attempt served by the healed worker.")
    first_success_after_heal_s: float | None = None
    detail: str = ""


class OutageResult(Model):
    """etcd/NATS outages (schema 1.3): what kept working while the server was stopped, and after."""

    requests_during: int = Field(0, description="Load attempts that ended while the server was stopped.")
    failures_during: int = 0
    registered_during: bool | None = Field(None, description="A worker started during the outage was listed by "
                                           "the frontend before it ended.")
    registered_after_s: float | None = Field(None, description="That worker's start -> listed by the frontend.")
    first_success_after_s: float | None = Field(None, description="Server continued -> the first success after.")
    detail: str = ""


class OverloadStep(Model):
    rate_per_s: float = Field(description="Requests per second sent in this step.")
    sent: int = 0
    ok: int = 0
    held: bool = Field(False, description="The hold at the rate that first shed load.")
    classes: dict[str, int] = Field(default_factory=dict, description="Failed ramp requests by error class.")


class OverloadResult(Model):
    """Overload (schema 1.3): the ramp at the frontend, what it shed, what else failed, and the recovery."""

    steps: list[OverloadStep] = Field(default_factory=list)
    first_shed_rate_per_s: float | None = Field(None, description="The ramp rate at which load was first shed.")
    shed: int = Field(0, description="Ramp and load attempts answered 529 (busy) or 503: shedding.")
    hard_failures: int = Field(0, description="Ramp and load attempts that timed out or lost the connection.")
    other_failures: int = Field(0, description="Every other failed attempt of the ramp and the load.")
    ramp_start_ns: int | None = None
    ramp_end_ns: int | None = None
    after_ramp: WindowStats = Field(WindowStats(), description="The load's attempts that started after the ramp "
                                    "ended plus the recovery grace.")
    detail: str = ""


class CancelStormResult(Model):
    """Cancel storm (schema 1.3): how many streams were cut mid-stream, and how the frontend drained."""

    cancelled: int = 0
    mid_stream: int = 0
    inflight_before: float | None = None
    drained_after_s: float | None = Field(None, description="Cancel -> the frontend's in-flight gauge read 0.")
    fresh_request_ok: bool = False
    detail: str = ""


class ReplicaTraffic(Model):
    replica: str = Field(description="The replica (pod) name, or the worker id when no log names it.")
    role: str = Field(description="decode or prefill: which of the request's workers it was.")
    worker_ids: list[str] = Field(default_factory=list)
    before: TrafficCounts = TrafficCounts()
    after: TrafficCounts = TrafficCounts()


class LoadInfo(Model):
    client: str
    mode: str
    clients: int
    requests_per_client: int
    streaming: bool
    input_tokens: int
    output_tokens: int


class ScenarioSummary(Model):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    scenario: str
    group: str
    backend: str
    mode: str
    tp: int
    dp: int
    failure: str
    migration_limit: int | None = Field(None, description="The frontend's --migration-limit (0: migration off).")
    platform: str
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    started_at: str
    finished_at: str
    load: LoadInfo | None = None
    timings: Timings = Timings()
    fault: FaultRecord | None = None
    total: WindowStats = WindowStats()
    before: WindowStats = WindowStats()
    after: WindowStats = WindowStats()
    after_recovery: WindowStats = WindowStats()
    phases: dict[str, WindowStats] = Field(default_factory=dict, description="Token overflow: overflow and recovery.")
    cross_check: CrossCheck | None = None
    request_join: RequestJoin | None = None
    migrations: Migrations | None = None
    replicas: list[ReplicaTraffic] = Field(default_factory=list, description="Per replica: what it served before "
                                           "and after the fault (from the frontend's worker ids).")
    probe: WindowStats | None = Field(None, description="The probe stream's attempts, counted apart from the load.")
    stall: StallRouting | None = None
    rollout: Rollout | None = Field(None, description="Rolling upgrades (schema 1.3).")
    steps: list[StepSummary] = Field(default_factory=list, description="The timeline's steps (schema 1.3): a "
                                     "catalog scenario's one-step form, or a scenario file's steps.")
    from_file: bool = Field(False, description="A multi-step scenario of a scenario file (config.timelines), not a "
                            "catalog entry (schema 1.3).")
    partition: PartitionResult | None = None
    overload: OverloadResult | None = None
    cancel_storm: CancelStormResult | None = None
    outage: OutageResult | None = None
    in_flight: InFlight | None = Field(None, description="Attempts in flight at the fault and how they ended "
                                       "(schema 1.2).")
    server_checks: list[ServerCheckResult] | None = Field(
        None, description="The server-side checks (checks.server) and their verdicts (schema 1.3); their FAILs and "
        "ERRORs are also stage-2 checks.")
    stage1: Stage = Stage(status="SKIPPED")
    stage2: Stage = Stage(status="SKIPPED")


class RunScenarioEntry(Model):
    scenario: str
    verdict: Verdict
    path: str


class RunSummary(Model):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    platform: str
    started_at: str
    finished_at: str | None = None
    exit_code: int | None = None
    scenarios: list[RunScenarioEntry] = Field(default_factory=list)

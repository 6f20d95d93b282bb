"""The shape of `summary.json` (per scenario) and of the run's summary.

These models are the published, versioned contract of the result tree:
`runner/schemas/summary.schema.json` is generated from them (bump
SCHEMA_VERSION on any incompatible change).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

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


class Timings(Model):
    startup_s: float | None = None
    startup_reason: str | None = None
    fault_ns: int | None = Field(None, description="Runner-clock UTC epoch ns of the fault injection.")
    first_success_ns: int | None = None
    service_recovery_s: float | None = None
    service_recovery_reason: str | None = None
    infrastructure_recovery_s: float | None = None
    infrastructure_recovery_reason: str | None = None


class CheckResult(Model):
    name: str
    status: StageStatus
    detail: str = ""


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
    detail: str = ""


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

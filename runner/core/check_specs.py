"""Server-side checks as configuration: what a scenario (or a step of one) can name.

Each check is judged from what the run already collected (the 1 Hz metrics scrapes and
the service logs of the result tree) by runner.results.server_checks. The specs live
here, beside RunConfig, because the config (`checks.server`) lists them and core is the
bottom layer; the evaluation lives in results.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, field_validator

Role = Literal["frontend", "decode", "prefill"]
Anchor = Literal["load_end", "fault_end"]

FRONTEND_INFLIGHT = "dynamo_frontend_inflight_requests"
FRONTEND_QUEUED = "dynamo_frontend_queued_requests"
FRONTEND_MIGRATION_TOTAL = "dynamo_frontend_model_migration_total"
# Rust: "thread 'main' panicked at src/x.rs:1:2"; Python: the first line of a traceback
PANIC_PATTERN = r"panicked at|Traceback \(most recent call last\)"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Name in the tables and summary.json (null: made from the kind).")


class InflightDrains(_Spec):
    """The frontend's in-flight requests (dynamo_frontend_inflight_requests) are back to 0 within `within_s`
    after the anchor, on every frontend replica scraped after it."""

    kind: Literal["inflight_drains"] = Field(description="inflight_drains")
    within_s: PositiveFloat = Field(30.0, description="Bound in seconds from the anchor to the first scrape at 0.")
    after: Anchor = Field(
        "load_end", description="Anchor: load_end (the last request ended) or fault_end (the faulted replica ready "
        "again, or SIGCONT of a stall).")


class QueueDrains(InflightDrains):
    """The frontend's queued requests (dynamo_frontend_queued_requests) are back to 0 within `within_s` after
    the anchor, on every frontend replica scraped after it."""

    kind: Literal["queue_drains"] = Field(description="queue_drains")


class MigrationCounter(_Spec):
    """The frontend's migration counter (dynamo_frontend_model_migration_total, summed over frontends and
    process lives; it counts retries and refusals alike) lies in [min, max]."""

    kind: Literal["migration_counter"] = Field(description="migration_counter")
    min: NonNegativeInt = Field(0, description="Lowest acceptable count.")
    max: NonNegativeInt | None = Field(None, description="Highest acceptable count (null: no upper bound).")


class WorkerMetricMax(_Spec):
    """A worker gauge (e.g. vllm:kv_cache_usage_perc of the mocker engine) is never above `max` in any scrape
    of any worker replica of the given roles (the largest value over its label sets)."""

    kind: Literal["worker_metric_max"] = Field(description="worker_metric_max")
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="Prometheus sample name.")
    max: float = Field(description="Highest acceptable value.")
    roles: list[Literal["decode", "prefill"]] = Field(
        default_factory=lambda: ["decode", "prefill"], min_length=1, description="Worker roles whose scrapes count.")


class LogCount(_Spec):
    """Lines of the collected service logs (current and previous containers) matching `pattern` are at
    most `max`."""

    kind: Literal["log_count"] = Field(description="log_count")
    pattern: str = Field(min_length=1, description="Python regular expression searched in each raw log line.")
    max: NonNegativeInt = Field(0, description="Highest acceptable number of matching lines.")
    roles: list[Role] = Field(default_factory=list, description="Roles whose logs are read (empty: every role).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return pattern


class NoPanics(_Spec):
    """No Rust panic (`panicked at`) and no Python traceback in the collected service logs: log_count with
    that pattern and max 0."""

    kind: Literal["no_panics"] = Field(description="no_panics")
    roles: list[Role] = Field(default_factory=list, description="Roles whose logs are read (empty: every role).")


ServerCheck = Annotated[
    Union[InflightDrains, QueueDrains, MigrationCounter, WorkerMetricMax, LogCount, NoPanics],
    Field(discriminator="kind"),
]

DEFAULT_SERVER_CHECKS: tuple = (NoPanics(kind="no_panics"), InflightDrains(kind="inflight_drains", within_s=30.0))

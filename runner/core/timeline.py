"""A multi-step scenario: a deployment and a timeline of steps (what a `--scenario-file` holds).

Each step is a mapping named by its one key: `load` (start or stop the load), `fault` (any fault of
the catalog, on a replica by index, one at random with fault.seed, or all of the role), or `wait`
(seconds, the first success, recovery to K consecutive successes, or every replica of a role ready).
A catalog scenario is the one-step timeline: start the load, wait for the first success plus
fault.inject_after_s, inject its fault, and let the load run out.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from runner.core.check_specs import ServerCheck
from pydantic import BaseModel, ConfigDict, Discriminator, Field, PositiveFloat, PositiveInt, Tag, model_validator

Role = Literal["frontend", "decode", "prefill"]
STEP_KEYS = ("load", "fault", "wait")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepExpect(_Strict):
    min_success_rate: float | None = Field(
        None, ge=0, le=1, description="Lowest share of successful attempts that end in this step's window.")
    max_recovery_s: PositiveFloat | None = Field(
        None, description="Longest service recovery after this step's fault (to K consecutive successes).")


class LoadStep(_Strict):
    load: Literal["start", "stop"] = Field(description="Start the scenario's load, or stop it early.")


class FaultStep(_Strict):
    fault: str = Field(description="A fault of the catalog for this deployment (`ft-runner scenarios`), e.g. "
                       "decode_worker_stall.")
    target: int | Literal["random", "all"] = Field(
        "random", description="The replica of the fault's role: its index (0-based, in replica order), one at "
        "random (seeded by fault.seed and the step), or all of them.")
    expect: StepExpect = Field(StepExpect(), description="Checks of this step's window.")
    checks: list[ServerCheck] = Field(
        default_factory=list, description="Server-side checks (as checks.server) judged on this step's window, "
        "from its start to the next step's, with this step's fault as `the fault`.")


class WaitStep(_Strict):
    wait: PositiveFloat | Literal["first_success", "recovered", "ready"] = Field(
        description="Seconds; or until the load's first success (plus delay_s); until K consecutive successes "
        "after the last fault (recovered); until every replica of `role` is ready.")
    delay_s: float = Field(0.0, ge=0, description="first_success: wait this long after it.")
    successes: PositiveInt | None = Field(
        None, description="recovered: how many consecutive successes (null: checks.consecutive_successes).")
    role: Role | None = Field(None, description="ready: the role whose replicas must all be ready.")
    timeout_s: PositiveFloat = Field(120.0, description="Give up waiting after this long (the step then fails).")

    @model_validator(mode="after")
    def _options_fit(self) -> WaitStep:
        if (self.wait == "ready") != (self.role is not None):
            raise ValueError("`role` goes with `wait: ready`, and `wait: ready` needs it")
        if self.successes is not None and self.wait != "recovered":
            raise ValueError("`successes` goes with `wait: recovered`")
        if self.delay_s and self.wait != "first_success":
            raise ValueError("`delay_s` goes with `wait: first_success`")
        return self


def _step_kind(value) -> str | None:
    keys = value.keys() if isinstance(value, dict) else [k for k in STEP_KEYS if hasattr(value, k)]
    found = [k for k in STEP_KEYS if k in keys]
    return found[0] if len(found) == 1 else None


Step = Annotated[
    Union[Annotated[LoadStep, Tag("load")], Annotated[FaultStep, Tag("fault")], Annotated[WaitStep, Tag("wait")]],
    Discriminator(_step_kind, custom_error_type="step_kind",
                  custom_error_message="a step has exactly one of the keys load, fault, wait"),
]


class Timeline(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,80}$", description="The scenario's name (its result folder).")
    deployment: str = Field(description="A deployment of the catalog, e.g. mocker-agg-tp-1-dp-2 "
                            "(`ft-runner scenarios` lists them as <deployment>-<failure>).")
    steps: list[Step] = Field(min_length=1, description="The steps, run in order.")

    def faults(self) -> list[str]:
        return [s.fault for s in self.steps if isinstance(s, FaultStep)]

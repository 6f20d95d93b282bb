"""The platform protocol: what the orchestrator needs from a place that runs Dynamo.

Two implementations: `local` (real Dynamo processes on this machine) and
`kubernetes` (DynamoGraphDeployments). The orchestrator owns the timeline; a
platform only deploys, observes, injects, collects and tears down.

Roles are "frontend", "decode" and "prefill" (aggregated workers are "decode").
A replica is named like a pod. The fault modules (runner/faults/) are written against the primitives
of `runner.faults.base.Replicas`, which every Deployment provides; the primitives return plain
JSON-able dicts that `runner.faults.evidence` assembles into typed evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from runner.faults.base import Replicas
from runner.scenarios.plan import Scenario


class PlatformError(RuntimeError):
    """Something the platform could not do (deploy, inject, collect), with the reason."""


@runtime_checkable
class Deployment(Replicas, Protocol):
    scenario: Scenario

    @property
    def endpoints(self) -> list[str]:
        """Base URLs (http://host:port) the clients send requests to."""

    @property
    def tokenizer(self) -> str:
        """Tokenizer for aiperf: a local directory or an HF id."""

    def replicas(self, role: str) -> list[str]:
        """Current replica (pod) names of a role, sorted."""

    async def wait_ready(self, timeout_s: float) -> None:
        """Return when every replica is ready, the model is listed and a probe request succeeded."""

    async def start_observing(self, tree: Path) -> None:
        """Start watchers (status, events, 1 Hz metrics scrape) writing under the scenario tree."""

    async def stop_observing(self) -> None: ...

    async def scrape_now(self) -> None:
        """One more metrics scrape of every live replica now, beside the 1 Hz ones."""

    # the fault primitives (snapshot, signal, delete, await_replacement, process_states): faults.base.Replicas

    def restarts_observed(self) -> int:
        """Container restarts plus replica replacements seen since deploy (0 for an undisturbed run)."""

    async def frontend_request_count(self) -> int | None:
        """Sum over frontend replicas (including replaced ones) of requests the frontend counted."""

    async def collect(self, tree: Path) -> None:
        """Logs (current and previous), metrics, replica specs/status histories, events."""

    def role_dirs(self) -> dict[str, str]:
        """The role of each service directory the deployment writes under the scenario tree."""

    async def teardown(self, timeout_s: float) -> None:
        """Remove everything and wait until it is gone."""


class Platform(Protocol):
    name: str

    def preflight(self, scenarios: list[Scenario]) -> None:
        """Raise a UserError naming the fix when the platform cannot start (missing install, model...)."""

    def planned_endpoints(self, scenario: Scenario) -> tuple[list[str], str] | None:
        """(endpoints, tokenizer) the scenario's deployment will have, when known before it is
        deployed (then the suite starts its load generator during the scenario before); else None."""

    async def deploy(self, scenario: Scenario, tree: Path) -> Deployment:
        """Create the deployment (returns without waiting for readiness)."""

"""The load of a scenario: its LoadSpec from the resolved config, the generator, the probe stream,
and the next scenario's generator started ahead of time."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

from runner.load.base import Load, LoadSpec, default_max_duration
from runner.platforms.base import Deployment, Platform
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")


def load_spec(scenario: Scenario, endpoints: list[str], tokenizer: str, **overrides) -> LoadSpec:
    """The resolved load settings of the scenario, with `overrides` (e.g. a phase's input_tokens) on top."""
    shared = {f.name for f in fields(LoadSpec)} & set(type(scenario.load).model_fields)
    settings = scenario.load.model_dump(include=shared) | {k: v for k, v in overrides.items() if v is not None}
    settings["max_duration_s"] = settings.get("max_duration_s") or default_max_duration(
        settings["requests_per_client"], settings["request_rate_per_client"], settings["request_timeout_s"],
        settings["max_attempts"])
    return LoadSpec(endpoints=endpoints, model=scenario.model, tokenizer=tokenizer, seed=scenario.config.fault.seed,
                    **settings)


def deployment_load_spec(scenario: Scenario, deployment: Deployment, **overrides) -> LoadSpec:
    return load_spec(scenario, deployment.endpoints, deployment.tokenizer, **overrides)


def make_load(scenario: Scenario, spec: LoadSpec, out_dir: Path, phase: str = "load") -> Load:
    if scenario.load.client == "legacy":
        from runner.load.legacy import LegacyLoad

        return LegacyLoad(spec, out_dir, phase)
    from runner.load.aiperf import AiperfLoad, aiperf_executable

    aiperf_executable()
    return AiperfLoad(spec, out_dir, phase)


def probe_stream(scenario: Scenario, deployment: Deployment, tree: Path):
    probe = scenario.config.probe
    if probe.rate_per_s <= 0:
        return None
    from runner.load.probe import ProbeStream

    return ProbeStream(deployment.endpoints[0], scenario.model, probe.rate_per_s, probe.max_requests,
                       probe.max_duration_s, probe.request_timeout_s, tree)


PRESTART_LEAD_S = 20.0  # aiperf needs 9-16 s to be configured on 2 cores under load; the next deploy ~3 s


class NextLoad:
    """The next scenario's load generator, started (and held before its first request) during the last
    PRESTART_LEAD_S of this scenario's load, once this scenario's fault has been verified: its start-up
    then overlaps this scenario's end, collection and teardown instead of adding to the next one."""

    def __init__(self, scenario: Scenario, platform: Platform, tree: Path):
        self.scenario, self.platform, self.tree = scenario, platform, tree
        self.load: Load | None = None

    @staticmethod
    def possible(scenario: Scenario | None, platform: Platform) -> bool:
        return scenario is not None and not scenario.is_overflow and platform.planned_endpoints(scenario) is not None

    async def start(self) -> None:
        if self.load is not None:
            return
        endpoints, tokenizer = self.platform.planned_endpoints(self.scenario)
        load = make_load(self.scenario, load_spec(self.scenario, endpoints, tokenizer), self.tree)
        await load.prepare()
        self.load = load
        log.info("Started the load generator of the next scenario (%s), held before its first request",
                 self.scenario.name)

    async def take(self, deployment: Deployment) -> Load | None:
        """The prepared load when it targets this deployment's endpoints; else it is stopped."""
        load, self.load = self.load, None
        if load is None or (load.spec.endpoints, load.spec.tokenizer) == (deployment.endpoints, deployment.tokenizer):
            return load
        await load.discard()
        for started in self.tree.glob("client_*"):  # the fresh generator writes where this one did
            shutil.rmtree(started, ignore_errors=True)
        return None

    async def discard(self) -> None:
        """Stop a generator nobody took, and remove the tree it started when its scenario never ran."""
        load, self.load = self.load, None
        if load is None:
            return
        await load.discard()
        if not (self.tree / "scenario.json").exists():
            shutil.rmtree(self.tree, ignore_errors=True)


@dataclass
class Prestarts:
    """What a scenario gets from the suite: its own load generator when the scenario before started it
    (`mine`), and the next scenario's to start during its own load (`after`)."""

    mine: NextLoad | None = None
    after: NextLoad | None = None

    async def take_mine(self, deployment: Deployment) -> Load | None:
        return await self.mine.take(deployment) if self.mine else None


def seconds_of_load_left(load: Load) -> float:
    """A lower bound: requests still owed at the total rate (retries of failures come on top)."""
    spec = load.spec
    owed = spec.clients * spec.requests_per_client - load.progress.ok
    return max(0, owed) / (spec.clients * spec.request_rate_per_client)

"""Plan: a scenario name plus the run's config -> one immutable, validated Scenario."""

from __future__ import annotations

from dataclasses import dataclass, replace

from runner.core.config import ResolvedLoad, RunConfig
from runner.core.timeline import FaultStep, LoadStep, Step, Timeline, WaitStep
from runner.scenarios.catalog import CatalogEntry, UnknownScenario, lookup


class Unsupported(ValueError):
    """The chosen platform cannot run this scenario; the message says why."""


@dataclass(frozen=True)
class Scenario:
    entry: CatalogEntry
    platform: str
    load: ResolvedLoad
    inject_after_s: float
    model: str
    migration_limit: int
    max_model_len: int | None
    config: RunConfig
    steps: tuple[Step, ...] = ()  # the timeline; a catalog scenario's is its one-step form
    from_file: bool = False  # a multi-step scenario (config.timelines / --scenario-file)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def is_overflow(self) -> bool:
        return self.entry.failure == "token_overflow"


def plan(name: str, config: RunConfig) -> Scenario:
    entry = _supported(lookup(name), config)
    return _scenario(entry, config, one_step(entry, config.inject_after_s()))


def plan_timeline(timeline: Timeline, config: RunConfig) -> Scenario:
    """A multi-step scenario: every fault step must be a catalog fault of the deployment on this platform;
    the scenario is judged by the topology of its first fault."""
    entries = [_step_entry(timeline, f, config) for f in timeline.faults() or ["none"]]
    if any(e.failure == "token_overflow" for e in entries):
        raise Unsupported(f"{timeline.name}: token overflow has its own phases and cannot be a step")
    entry = replace(entries[0], name=timeline.name, group=timeline.deployment)
    return replace(_scenario(entry, config, tuple(timeline.steps)), from_file=True)


def one_step(entry: CatalogEntry, inject_after_s: float) -> tuple[Step, ...]:
    """A catalog scenario as a timeline: the load, its first success plus the delay, the fault."""
    if entry.failure == "none":
        return (LoadStep(load="start"),)
    return (LoadStep(load="start"), WaitStep(wait="first_success", delay_s=inject_after_s),
            FaultStep(fault=entry.failure))


def _step_entry(timeline: Timeline, failure: str, config: RunConfig) -> CatalogEntry:
    try:
        return _supported(lookup(f"{timeline.deployment}-{failure}"), config)
    except UnknownScenario:
        raise Unsupported(f"{timeline.name}: the catalog has no fault {failure!r} for deployment "
                          f"{timeline.deployment!r} (list them with `ft-runner scenarios`)") from None


def _supported(entry: CatalogEntry, config: RunConfig) -> CatalogEntry:
    reason = entry.unsupported_reason(config.platform)
    if reason:
        raise Unsupported(f"{entry.name}: {reason}")
    return entry


def _scenario(entry: CatalogEntry, config: RunConfig, steps: tuple[Step, ...]) -> Scenario:
    return Scenario(
        entry=entry,
        platform=config.platform,
        load=config.resolved_load(),
        inject_after_s=config.inject_after_s(),
        model=config.deployment.model or entry.model,
        migration_limit=entry.migration_limit(config.deployment.migration_limit),
        max_model_len=config.deployment.max_model_len or entry.context_limit,
        config=config,
        steps=steps,
    )

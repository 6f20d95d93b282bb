"""Plan: a scenario name plus the run's config -> one immutable, validated Scenario."""

from __future__ import annotations

from dataclasses import dataclass

from runner.scenarios.catalog import CatalogEntry, lookup
from runner.core.config import ResolvedLoad, RunConfig


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

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def is_overflow(self) -> bool:
        return self.entry.failure == "token_overflow"


def plan(name: str, config: RunConfig) -> Scenario:
    entry = lookup(name)
    reason = entry.unsupported_reason(config.platform)
    if reason:
        raise Unsupported(f"{name}: {reason}")
    max_len = config.deployment.max_model_len or entry.context_limit
    return Scenario(
        entry=entry,
        platform=config.platform,
        load=config.resolved_load(),
        inject_after_s=config.inject_after_s(),
        model=config.deployment.model or entry.model,
        migration_limit=entry.migration_limit(config.deployment.migration_limit),
        max_model_len=max_len,
        config=config,
    )

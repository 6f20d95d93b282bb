"""The built-in scenario matrix, generated from parameters.

Names follow upstream so that existing dashboards and habits carry over:
`{backend}-agg-tp-{T}-dp-{D}-{failure}`,
`{backend}-disagg-prefill-tp-{T}-decode-tp-{T}-dp-{D}-{failure}`,
`vllm-moe-{agg,disagg}-tp-1-dp-2-{failure}` (custom build) and
`{backend}_{agg,disagg}_token_overflow_2x`.
Every process, pod and engine-subprocess fault also runs by name with request
migration on or off: `<name>-migration-on` / `<name>-migration-off`; the plain
name uses the configured `deployment.migration_limit`.
The `mocker` backend (Dynamo's simulated engine, no GPU) runs on both platforms.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import lru_cache

from runner import faults
from runner.faults.base import Fault

BACKENDS = ("vllm", "sglang", "trtllm", "mocker")
GPU_BACKENDS = ("vllm", "sglang", "trtllm")
MODES = ("agg", "disagg")
TP_DP_GRID = ((1, 1), (1, 2), (2, 1), (4, 1))
MOCKER_TP_DP_GRID = ((1, 1), (1, 2))

DEFAULT_MODEL = {"vllm": "Qwen/Qwen3-0.6B", "sglang": "Qwen/Qwen3-0.6B", "trtllm": "Qwen/Qwen3-0.6B", "mocker": "tiny-llm"}
MOE_MODEL = "deepseek-ai/DeepSeek-V2-Lite"
OVERFLOW_CONTEXT_LIMIT = 1024

# Every failure, its role, kind and the platforms it can run on are declared by its fault module
# (runner/faults/); the catalog crosses them with the deployments.
FAILURES: tuple[str, ...] = faults.names()

MIGRATION_SUFFIX = {True: "migration-on", False: "migration-off"}
DEFAULT_MIGRATION_LIMIT = 3  # a -migration-on scenario's limit when the config turns migration off


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    backend: str
    mode: str  # agg | disagg
    tp: int
    dp: int
    failure: str
    model: str
    custom_build: bool = False
    moe: bool = False
    context_limit: int | None = None  # set for token-overflow scenarios
    platforms: tuple[str, ...] = field(default=("kubernetes",))
    migration: bool | None = None  # None: the configured migration limit; True/False: the -migration-on/off variant
    group: str | None = None  # a scenario file's deployment (its name does not end with a failure)

    @property
    def deployment_name(self) -> str:
        """The scenario group: the name without the failure (the table's 'Test Group')."""
        if self.group is not None:
            return self.group
        if self.failure == "token_overflow":
            return self.name
        return self.name[: -(len(self.failure_label) + 1)]

    @property
    def failure_label(self) -> str:
        """The failure as the name spells it, with the migration variant (a group table's row label); a
        scenario file's own name."""
        if self.group is not None:
            return self.name
        if self.migration is None:
            return self.failure
        return f"{self.failure}-{MIGRATION_SUFFIX[self.migration]}"

    def migration_limit(self, configured: int) -> int:
        if self.migration is None:
            return configured
        return (configured or DEFAULT_MIGRATION_LIMIT) if self.migration else 0

    def as_row(self) -> dict:
        """The entry as plain JSON-able data (the CLI's --json and the chart's catalog)."""
        return {
            "name": self.name,
            "backend": self.backend,
            "mode": self.mode,
            "tp": self.tp,
            "dp": self.dp,
            "failure": self.failure,
            "model": self.model,
            "custom_build": self.custom_build,
            "platforms": list(self.platforms),
            "migration": self.migration,
            "named_only": self.fault.kind == "outage",
        }

    @property
    def fault(self) -> Fault:
        return faults.get(self.failure)

    @property
    def hit_role(self) -> str:
        return self.fault.role

    @property
    def fault_kind(self) -> str:
        return self.fault.kind

    def replicas(self, role: str) -> int:
        """Replicas per role: DP scales the workers and, as upstream does, the frontend.
        MoE runs its data parallelism inside one pod per role, so each role has one replica."""
        if role in ("etcd", "nats"):
            return 1  # the local etcd-nats planes: one server each
        if self.moe:
            return 0 if role == "prefill" and self.mode == "agg" else 1
        if role in ("frontend", "decode"):
            return self.dp
        if role == "prefill":
            return self.dp if self.mode == "disagg" else 0
        raise ValueError(f"unknown role {role!r}")

    def unsupported_reason(self, platform: str) -> str | None:
        if platform in self.platforms:
            return None
        if platform == "local":
            if self.backend != "mocker":
                return f"the local platform runs only the mocker backend, not {self.backend} (it needs GPUs)"
            return f"the local platform has no {self.failure} fault: it needs an engine subprocess"
        if not faults.get(self.failure).kubernetes:
            return f"{self.failure} is not built for Kubernetes yet; run it with --platform local"
        return f"{platform} cannot run {self.name}"


def _deployment_name(backend: str, mode: str, tp: int, dp: int, moe: bool = False) -> str:
    if moe:  # upstream's MoE names carry no prefill/decode split
        return f"{backend}-moe-{mode}-tp-{tp}-dp-{dp}"
    prefix = backend
    if mode == "agg":
        return f"{prefix}-agg-tp-{tp}-dp-{dp}"
    return f"{prefix}-disagg-prefill-tp-{tp}-decode-tp-{tp}-dp-{dp}"


def _failures_for(backend: str, mode: str, replicas: int = 1) -> list[str]:
    """The faults of a deployment whose roles have `replicas` replicas each (DP; MoE: one pod per role)."""
    return [f.name for f in faults.registry().values()
            if f.applies_to(backend, mode, replicas) and _platforms(backend, f.name)]


def _platforms(backend: str, failure: str) -> tuple[str, ...]:
    fault = faults.get(failure)
    local = ("local",) if backend == "mocker" and fault.local else ()
    return local + (("kubernetes",) if fault.kubernetes else ())


def _generate() -> list[CatalogEntry]:
    entries: list[CatalogEntry] = []
    for backend in BACKENDS:
        grid = MOCKER_TP_DP_GRID if backend == "mocker" else TP_DP_GRID
        for mode in MODES:
            for tp, dp in grid:
                base = _deployment_name(backend, mode, tp, dp)
                for failure in _failures_for(backend, mode, dp):
                    entries.append(
                        CatalogEntry(
                            name=f"{base}-{failure}",
                            backend=backend,
                            mode=mode,
                            tp=tp,
                            dp=dp,
                            failure=failure,
                            model=DEFAULT_MODEL[backend],
                            platforms=_platforms(backend, failure),
                        )
                    )
    for mode in MODES:
        base = _deployment_name("vllm", mode, 1, 2, moe=True)
        for failure in _failures_for("vllm", mode):
            entries.append(
                CatalogEntry(
                    name=f"{base}-{failure}",
                    backend="vllm",
                    mode=mode,
                    tp=1,
                    dp=2,
                    failure=failure,
                    model=MOE_MODEL,
                    custom_build=True,
                    moe=True,
                )
            )
    for backend in BACKENDS:
        for mode in MODES:
            entries.append(
                CatalogEntry(
                    name=f"{backend}_{mode}_token_overflow_2x",
                    backend=backend,
                    mode=mode,
                    tp=1 if (mode == "agg" or backend == "mocker") else 2,
                    dp=1,
                    failure="token_overflow",
                    model=DEFAULT_MODEL[backend],
                    context_limit=OVERFLOW_CONTEXT_LIMIT,
                    platforms=_platforms(backend, "token_overflow"),
                )
            )
    return entries


def _migration_variants(entries: list[CatalogEntry]) -> list[CatalogEntry]:
    return [
        replace(e, name=f"{e.name}-{MIGRATION_SUFFIX[on]}", migration=on)
        for e in entries
        if e.fault.migration_variants
        for on in (True, False)
    ]


@lru_cache(maxsize=1)
def catalog() -> dict[str, CatalogEntry]:
    base = _generate()
    return {entry.name: entry for entry in base + _migration_variants(base)}


class UnknownScenario(KeyError):
    def __init__(self, name: str, suggestions: list[str]):
        super().__init__(name)
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:
        hint = f"; closest: {', '.join(self.suggestions)}" if self.suggestions else ""
        return f"unknown scenario {self.name!r}{hint} (list them with `ft-runner scenarios`)"


def lookup(name: str) -> CatalogEntry:
    entries = catalog()
    if name in entries:
        return entries[name]
    raise UnknownScenario(name, difflib.get_close_matches(name, entries.keys(), n=3, cutoff=0.6))


def select(
    backend: str | None = None,
    mode: str | None = None,
    failure: str | None = None,
    platform: str | None = None,
    include_custom_build: bool = True,
    include_migration_variants: bool = False,
) -> list[CatalogEntry]:
    """Catalog entries by parameters; the -migration-on/off variants only when asked for (a filter by
    failure must not run each fault three times)."""
    return [
        e
        for e in catalog().values()
        if (include_migration_variants or e.migration is None)
        and (backend is None or e.backend == backend)
        and (mode is None or e.mode == mode)
        and (failure is None or e.failure == failure)
        and (platform is None or platform in e.platforms)
        and (include_custom_build or not e.custom_build)
    ]

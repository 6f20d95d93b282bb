"""A scenario matrix: explicit names plus an optional filter over the catalog.

The Helm chart resolves the same matrix at render time (from the catalog it
carries in `chart/files/catalog.json`, written by `python -m generators.chart_files`)
so that an Indexed Job knows its completion count; this module is the Python
side of that contract, and the part that picks one scenario per Job index.

    resolve(["vllm-agg-tp-1-dp-1-none"], MatrixFilter(backend="vllm", failures=["frontend_pod"]))
    pick(names, index)      # the scenario of Job completion index `index`

Order: the explicit names first, as given, then the filter's matches in catalog
order, each name once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from runner.scenarios.catalog import BACKENDS, FAILURES, MODES, catalog, lookup, select
from runner.core.errors import UserError

Backend = Literal[BACKENDS]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]
Failure = Literal[tuple(FAILURES)]  # type: ignore[valid-type]

# The chart only runs the kubernetes platform; the filter asks the catalog for it.
CHART_PLATFORM = "kubernetes"


class MatrixFilter(BaseModel):
    """Selects catalog scenarios by their parameters; an unset key matches everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend | None = Field(None, description="Only this backend (vllm, sglang, trtllm, mocker).")
    mode: Mode | None = Field(None, description="Only aggregated (agg) or disaggregated (disagg) serving.")
    failures: list[Failure] = Field(
        default_factory=list, description="Only these failures, e.g. [decode_worker, frontend_pod]; empty: all."
    )
    tp: PositiveInt | None = Field(None, description="Only this tensor-parallel size.")
    dp: PositiveInt | None = Field(None, description="Only this data-parallel size (replicas).")
    include_custom_build: bool = Field(
        False, description="Also select scenarios that need a custom Dynamo build (the vllm-moe ones)."
    )

    def is_empty(self) -> bool:
        """True when no selecting key is set: the filter then selects nothing."""
        return self.backend is None and self.mode is None and not self.failures and self.tp is None and self.dp is None


def filter_names(matrix: MatrixFilter, platform: str = CHART_PLATFORM) -> list[str]:
    if matrix.is_empty():
        return []
    wanted = set(matrix.failures)
    return [
        e.name
        for e in select(
            backend=matrix.backend,
            mode=matrix.mode,
            platform=platform,
            include_custom_build=matrix.include_custom_build,
        )
        if (e.failure in wanted or (not wanted and e.fault_kind != "outage"))  # outages only when named
        and (matrix.tp is None or e.tp == matrix.tp)
        and (matrix.dp is None or e.dp == matrix.dp)
    ]


def resolve(names: list[str] | tuple[str, ...], matrix: MatrixFilter | None = None,
            platform: str = CHART_PLATFORM) -> list[str]:
    """Explicit names (each must exist) then the filter's matches, without repeats."""
    resolved: list[str] = []
    for name in names:
        lookup(name)  # raises UnknownScenario with suggestions
        if name not in resolved:
            resolved.append(name)
    for name in filter_names(matrix or MatrixFilter(), platform):
        if name not in resolved:
            resolved.append(name)
    return resolved


def pick(names: list[str] | tuple[str, ...], index: int) -> str:
    """The scenario an Indexed Job's pod with completion index `index` runs."""
    if not names:
        raise UserError("--scenario-index needs a scenario list, and the configuration names no scenario")
    if not 0 <= index < len(names):
        raise UserError(
            f"--scenario-index {index} is out of range: the configuration lists {len(names)} scenario(s), "
            f"indexes 0..{len(names) - 1}"
        )
    return names[index]


def catalog_rows() -> list[dict]:
    """The catalog as plain rows, in catalog order (what the chart filters at render time). The
    -migration-on/off variants are there so config.scenarios may name them; the chart's matrix
    filter skips them, as select() does."""
    return [e.as_row() for e in catalog().values()]

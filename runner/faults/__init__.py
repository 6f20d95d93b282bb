"""The faults: every module of this package declares `FAULTS`; adding a fault is one module.

    from runner import faults
    faults.get("decode_worker").role            # "decode"
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from runner.faults.base import Fault


@cache
def registry() -> dict[str, Fault]:
    found: dict[str, Fault] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("base", "evidence")):
        for fault in getattr(importlib.import_module(f"{__name__}.{module}"), "FAULTS", ()):
            if fault.name in found:
                raise ValueError(f"fault {fault.name} is declared twice")
            found[fault.name] = fault
    return dict(sorted(found.items(), key=lambda item: item[1].order))


def get(name: str) -> Fault:
    return registry()[name]


def names() -> tuple[str, ...]:
    return tuple(registry())

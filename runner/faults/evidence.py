"""Typed fault evidence: what each target was before, what was sent, what was seen after, what was restored.

Both platforms return plain dicts from their primitives; assemble() keeps each step in its own
section, so no value of one step overwrites another's (a restart count before and after, say).
`faults.json` carries EVIDENCE_VERSION.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

EVIDENCE_VERSION = "2"


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="The replica (pod) the fault hit.")
    before: dict = Field(default_factory=dict, description="Its state before the fault (pid, uid, restarts, ...).")
    injected: dict = Field(default_factory=dict, description="What was done to it (signal, action, pids).")
    after: dict = Field(default_factory=dict, description="What was seen after (exit, replacement, states).")
    restored: dict | None = Field(None, description="What undoing the fault did and saw; None: nothing to undo.")
    injected_ns: int | None = Field(None, description="When the fault was sent (runner clock, epoch ns).")
    gone_ns: int | None = Field(None, description="When the faulted process or replica was seen gone.")
    ready_ns: int | None = Field(None, description="When the target, or its replacement, was ready again.")
    replacement: str | None = Field(None, description="The replica that took the target's place.")
    took_effect: bool = Field(description="The fault demonstrably happened to this target.")
    detail: str = Field(description="One line saying what was seen.")


def _section(data: dict, nested: str) -> dict:
    """A platform's dict without its target, with a nested section of the same name merged in."""
    flat = {k: v for k, v in data.items() if k not in ("target", nested)}
    return {**flat, **(data.get(nested) or {})}


def assemble(before: dict, stamp: dict, after: dict) -> Evidence:
    seen = _section(after, "after")
    took, detail = seen.pop("took_effect", False), seen.pop("detail", "no detail recorded")
    return Evidence(
        target=before["target"], before=_section(before, "before"), injected=_section(stamp, "injected"),
        after=seen, injected_ns=stamp.get("injected_ns"), gone_ns=seen.get("gone_ns", stamp.get("gone_ns")),
        ready_ns=seen.get("ready_ns"), replacement=seen.get("replacement"), took_effect=bool(took), detail=detail,
    )


def with_restore(evidence: Evidence, restored: dict) -> Evidence:
    """The step that undid the fault: the target is ready again when it was restored, and the fault counts
    only if undoing it was seen to work too."""
    seen = dict(restored)
    took, detail = seen.pop("took_effect", False), seen.pop("detail", "")
    return evidence.model_copy(update={
        "restored": seen, "ready_ns": seen.get("ready_ns", evidence.ready_ns),
        "replacement": seen.get("replacement", evidence.replacement),
        "took_effect": evidence.took_effect and bool(took),
        "detail": "; ".join(d for d in (evidence.detail, detail) if d),
    })

"""Prompts longer than the workers' context limit, then prompts that fit (a client-side fault).

It hits no replica: the scenario runs an overflow phase and a recovery phase (runner.run.scenario),
and the fault took effect when the server answered oversized prompts with an error."""

from __future__ import annotations

from runner.faults.base import Fault

FAULTS = (Fault(name="token_overflow", role="", kind="client", order=90, per_deployment=False,
                migration_variants=False),)


def judge_overflow(rejected: int, sent: int) -> tuple[bool, str]:
    """A connection error or a timeout proves nothing about the context limit: only answered errors count."""
    return rejected > 0, f"{rejected} of {sent} oversized prompts answered with an error"

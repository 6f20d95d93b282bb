"""Pure judgements: did a fault take effect, given before/after evidence?

A fault that did not take effect makes the scenario ERROR (DESIGN §3 rule 7),
so these functions say exactly what was seen either way.
"""

from __future__ import annotations

import random


def select_targets(replicas: list[str], count: int, seed: int) -> list[str]:
    """Pick `count` replicas with a seeded RNG (recorded in faults.json), in replica order."""
    if count > len(replicas):
        raise ValueError(f"cannot target {count} replicas: only {len(replicas)} exist ({', '.join(replicas) or 'none'})")
    chosen = set(random.Random(seed).sample(range(len(replicas)), count))
    return [name for i, name in enumerate(replicas) if i in chosen]


def judge_local_effect(kind: str, before: dict, after: dict) -> tuple[bool, str]:
    """A local process fault took effect when the targeted PID exited and is gone from /proc.

    Recovery (a restarted or replacement process becoming ready) is judged separately:
    a fault can take effect and the service never recover.
    """
    pid = before.get("pid")
    if not pid or not before.get("alive", False):
        return False, f"{before.get('target')}: no live process before the fault"
    exit_info = after.get("exit")
    if exit_info is None:
        return False, f"{before['target']}: PID {pid} did not exit"
    still = after.get("pid_after") or {}
    if still.get("alive") and still.get("start_time_s") == before.get("start_time_s"):
        return False, f"{before['target']}: PID {pid} is still running"
    how = f"signal {exit_info['signal']}" if exit_info.get("signal") else f"exit code {exit_info['exit_code']}"
    detail = f"{before['target']}: PID {pid} ({before.get('cmdline', '')[:80]}) ended with {how}"
    if after.get("replacement"):
        if kind == "pod":
            detail += f"; replaced by {after['replacement']} (PID {after.get('replacement_pid')})"
        else:
            detail += f"; restarted as PID {after.get('replacement_pid')} (restarts {after.get('restarts_after')})"
        detail += "; ready" if after.get("ready_ns") else "; never became ready"
    else:
        detail += "; no replacement appeared"
    return True, detail

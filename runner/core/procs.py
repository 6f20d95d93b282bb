"""Child processes that die with the runner."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True) if os.path.exists("/proc") else None


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the runner dies, even by SIGKILL.

    The child also gets its own process group so a terminal's Ctrl-C reaches
    only the runner, which then shuts everything down in order.
    """
    os.setpgid(0, 0)
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

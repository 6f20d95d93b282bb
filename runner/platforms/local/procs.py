"""Process-level helpers of the local platform: free ports and evidence read from /proc."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

# Dynamo 1.6.1 parses DYN_SYSTEM_PORT as a signed 16-bit integer, so ports
# above 32767 (most of Linux's ephemeral range) are rejected at startup.
PORT_RANGE = (20000, 32767)


def free_port() -> int:
    """A port free on 127.0.0.1 right now, below 32768."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(*PORT_RANGE)
        if port_is_free(port):
            return port
    raise OSError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} on 127.0.0.1")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _boot_time_s() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def process_evidence(pid: int) -> dict:
    """PID, command line and start time (UTC epoch seconds) of a live process; {'alive': False} if gone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {"pid": pid, "alive": False}
    # the command name (field 2) may contain spaces; fields after the closing paren are fixed
    fields = stat[stat.rindex(")") + 2 :].split()
    state = fields[0]
    start_ticks = int(fields[19])
    started = _boot_time_s() + start_ticks / os.sysconf("SC_CLK_TCK")
    return {
        "pid": pid,
        "alive": state != "Z",
        "state": state,
        "cmdline": " ".join(part.decode(errors="replace") for part in cmdline if part),
        "start_time_s": round(started, 2),
    }


def now_ns() -> int:
    return time.time_ns()

"""Wall time and peak memory of the default local suite (runner, Dynamo and clients together).

    .venv/bin/python bench/bench_suite.py [--client aiperf|legacy] [extra ft-runner run args]

Prints the wall time split into start-up of the deployment, load, and analysis+report per
scenario (from the runner's own UTC log), the whole run's wall time, and the peak of the summed
PSS (proportional set size: shared pages counted once) of the runner's process tree, sampled at 5 Hz.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mib(root: int) -> float:
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss_kib(pid)
        todo.extend(tree.get(pid, []))
    return total / 1024


def _stamp(line: str) -> float:
    m = re.search(r"\[TEST\] (\S+)Z", line)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else 0.0


def split(tree: Path) -> dict[str, float]:
    lines = (tree / "test.log.txt").read_text().splitlines()
    first = {key: next((_stamp(l) for l in lines if key in l), None)
             for key in ("Starting deployment", "Deployment ready", "Starting load", "Starting overflow",
                         "Load finished", "Verdict", "torn down")}
    load_start = first["Starting load"] or first["Starting overflow"]
    return {
        "startup_s": round(first["Deployment ready"] - first["Starting deployment"], 2),
        "load_s": round((first["Load finished"] or first["torn down"]) - load_start, 2),
        "collect_teardown_s": round(first["torn down"] - (first["Load finished"] or load_start), 2),
        "analysis_report_s": round(first["Verdict"] - first["torn down"], 3),
    }


def main() -> int:
    out = Path(tempfile.mkdtemp(prefix="ft-bench-"))
    exe = Path(sys.executable).with_name("ft-runner")
    args = [str(exe), "run", "--output", str(out), "--run-id", "bench", *sys.argv[1:]]
    began = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_pss_mib(proc.pid))
        time.sleep(0.2)
    wall = time.monotonic() - began
    run = json.loads((out / "bench" / "summary.json").read_text())
    print(f"exit code {proc.returncode}; wall {wall:.1f} s; peak PSS of the process tree {peak:.0f} MiB")
    for entry in run["scenarios"]:
        tree = out / "bench" / entry["path"]
        print(f"  {entry['scenario']:40s} {entry['verdict']:6s} {split(tree)}")
    print(f"results: {out / 'bench'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The harness's own cost per scenario: wall - startup - load.

    .venv/bin/python bench/bench_overhead.py [extra ft-runner run args, e.g. --scenario NAME]
    .venv/bin/python bench/bench_overhead.py --tree results/<run-id>     # an existing run

wall = the scenario's first to last line of test.log.txt (deploy to verdict, teardown included);
startup = summary.json's startup_s (deploy -> ready); load = the load's own time at its rate: every
attempt (retries included) over the total request rate. What is left is the harness: the load
generator's start and stop, idle gaps between attempts, collection, teardown, analysis.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"\[TEST\] (\S+)Z")


def _stamps(tree: Path) -> list[float]:
    found = (_STAMP.search(line) for line in (tree / "test.log.txt").read_text().splitlines())
    return [datetime.fromisoformat(m.group(1)).timestamp() for m in found if m]


def overhead(tree: Path) -> dict[str, float]:
    summary = json.loads((tree / "summary.json").read_text())
    stamps = _stamps(tree)
    load = summary["load"]
    rate = load["clients"] * json.loads((tree / "scenario.json").read_text())["load"]["request_rate_per_client"]
    attempts = summary["total"]["requests"] or sum(p["requests"] for p in summary["phases"].values())
    wall = stamps[-1] - stamps[0]
    startup = summary["timings"]["startup_s"] or 0.0
    load_s = attempts / rate
    return {"wall_s": round(wall, 2), "startup_s": round(startup, 2), "load_s": round(load_s, 2),
            "attempts": attempts, "overhead_s": round(wall - startup - load_s, 2)}


def report(run_dir: Path) -> None:
    run = json.loads((run_dir / "summary.json").read_text())
    print(f"{'scenario':44s} {'wall':>7s} {'startup':>8s} {'load':>7s} {'attempts':>8s} {'overhead':>9s}")
    rows = [overhead(run_dir / entry["path"]) for entry in run["scenarios"]]
    for entry, o in zip(run["scenarios"], rows):
        print(f"{entry['scenario']:44s} {o['wall_s']:7.2f} {o['startup_s']:8.2f} {o['load_s']:7.2f} "
              f"{o['attempts']:8d} {o['overhead_s']:9.2f}")
    later = [o["overhead_s"] for o in rows[1:]]
    if later:  # the first scenario pays aiperf's start; each later one's starts during the one before
        print(f"{'(mean after the first scenario)':44s} {'':7s} {'':8s} {'':7s} {'':8s} {sum(later) / len(later):9.2f}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--tree"]:
        report(Path(argv[1]))
        return 0
    out = Path(tempfile.mkdtemp(prefix="ft-overhead-"))
    exe = Path(sys.executable).with_name("ft-runner")
    proc = subprocess.run([str(exe), "run", "--output", str(out), "--run-id", "bench", *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"exit code {proc.returncode}; results: {out / 'bench'}")
    report(out / "bench")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

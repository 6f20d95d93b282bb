"""`ft-runner run --platform kubernetes` with an etcd outage, through the orchestrator, against the HTTP fake API
server (DGDs, pods, its small operator and frontend); the user's etcd StatefulSet is the in-memory one of
test_plane_outage (the fake serves no apps API), reached through the KubeApi's own scale methods."""

from __future__ import annotations

import json

import pytest

from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.platforms.kubernetes.api import KubeApi
from runner.run.suite import run_suite
from runner.run.ui import ProgressUI

from .test_plane_outage import FakeApi
from .test_orchestrated_run import FAST_K8S

NAME = "mocker-agg-tp-1-dp-1-etcd_outage"


def with_fake_etcd(monkeypatch) -> FakeApi:
    etcd = FakeApi(replicas=1)
    real_list = KubeApi.list_pods
    monkeypatch.setattr(KubeApi, "get_scale", lambda self, w: etcd.get_scale(w))
    monkeypatch.setattr(KubeApi, "patch_scale", lambda self, w, n, dry_run=False: etcd.patch_scale(w, n, dry_run))
    monkeypatch.setattr(KubeApi, "list_pods", lambda self, sel: etcd.list_pods(sel) if sel == "app=etcd"
                        else real_list(self, sel))
    return etcd


def config(tmp_path, **targets) -> RunConfig:
    return RunConfig(
        platform="kubernetes", run_id="k8s-outage", output=tmp_path, scenarios=[NAME],
        load={"client": "legacy", "clients": 2, "requests_per_client": 16, "request_rate_per_client": 4,
              "output_tokens": 5},
        fault={"inject_after_s": 0.5, "verify_timeout_s": 20, "outage_s": 1.5, "registration_timeout_s": 1},
        kubernetes={**FAST_K8S, "outage_targets": targets},
    )


def test_an_etcd_outage_runs_end_to_end_and_summary_json_says_what_kept_working(fake_cluster, tmp_path, monkeypatch):
    server = fake_cluster()
    etcd = with_fake_etcd(monkeypatch)
    code = run_suite(config(tmp_path, etcd="statefulset/etcd"), ProgressUI())
    tree = tmp_path / "k8s-outage" / NAME
    summary = json.loads((tree / "summary.json").read_text())
    (evidence,) = json.loads((tree / "faults.json").read_text())["evidence"]
    assert summary["fault"]["took_effect"] is True, summary["fault"]["detail"]
    assert evidence["injected"]["mechanism"] == "scale-subresource" and etcd.patches == [0, 1]
    assert etcd.dry_runs == [1]  # preflight
    outage = summary["outage"]
    assert outage["requests_during"] > 0 and outage["failures_during"] == 0  # the fake frontend needs no etcd
    assert outage["first_success_after_s"] is not None
    assert evidence["after"]["registration_during"]["registered"] is False  # the fake frontend has no /health
    assert ("patch", "dynamographdeployments") in server.requests  # the way back noted, the worker asked for
    assert summary["verdict"] == "PASS" and code == 0, summary["reasons"]


def test_an_etcd_outage_without_its_target_stops_the_run_before_any_graph(fake_cluster, tmp_path, monkeypatch):
    server = fake_cluster()
    etcd = with_fake_etcd(monkeypatch)
    with pytest.raises(UserError, match="kubernetes.outage_targets.etcd"):
        run_suite(config(tmp_path), ProgressUI())
    assert ("create", "dynamographdeployments") not in server.requests and etcd.patches == []

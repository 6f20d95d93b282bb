"""Pure decisions over real-shaped API objects, and the /proc scripts run by a real sh."""

from __future__ import annotations

import subprocess
import sys

from runner.platforms.kubernetes import decide as d
from runner.platforms.kubernetes.deployment import service_url, use_service


def _pod(name, component, ready=True, restarts=0, deleting=False, phase="Running", waiting=None):
    cs = {"name": "main", "ready": ready, "restartCount": restarts,
          "state": {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
          "lastState": {}}
    meta = {"name": name, "uid": f"uid-{name}", "labels": {d.GRAPH_LABEL: "g", d.COMPONENT_LABEL: component}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    return {"metadata": meta, "spec": {"containers": [{"name": "main", "command": ["python3", "-m", "dynamo.vllm"]}]},
            "status": {"phase": phase, "containerStatuses": [cs],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _dgd(ready="True", state="successful", gen=2, observed=2):
    return {"metadata": {"generation": gen},
            "status": {"state": state, "observedGeneration": observed,
                       "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "m",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_dgd_ready_needs_condition_state_and_current_generation():
    assert d.dgd_ready(_dgd())[0]
    assert "state is pending" in d.dgd_ready(_dgd(state="pending"))[1]
    assert not d.dgd_ready(_dgd(ready="False"))[0]
    assert "generation 1" in d.dgd_ready(_dgd(observed=1))[1]
    assert "no Ready condition" in d.dgd_ready({"status": {"state": "initializing"}})[1]


def test_a_failed_dgd_is_final_only_for_the_current_generation():
    failed = _dgd(ready="False", state="failed")
    assert d.dgd_failure(failed) == "R: m"
    assert d.dgd_failure(_dgd(ready="False", state="failed", observed=1)) is None  # the operator is still on it
    assert d.dgd_failure(_dgd(ready="False", state="pending")) is None
    assert d.dgd_failure({"status": {"state": "failed"}}) == "no reason given"


def test_pods_ready_counts_live_pods_per_role_and_ignores_terminating_ones():
    roles = {"Frontend": "frontend", "decode": "decode"}
    pods = [_pod("f", "Frontend"), _pod("d1", "decode"), _pod("d0", "decode", deleting=True)]
    assert d.pods_ready(pods, roles, {"frontend": 1, "decode": 1})[0]
    ok, why = d.pods_ready(pods, roles, {"frontend": 1, "decode": 2})
    assert not ok and "decode 1/2 ready (1 pods)" in why
    assert d.pods_by_role(pods, roles)["decode"][0]["metadata"]["name"] == "d1"


def test_pod_problem_reports_image_pull_errors():
    pod = _pod("x", "decode", ready=False, waiting={"reason": "ImagePullBackOff", "message": "not found"})
    assert d.pod_problem(pod) == "x/main: ImagePullBackOff: not found"
    assert d.pod_problem(_pod("y", "decode")) is None


def test_parse_stat_handles_spaces_and_parentheses_in_comm():
    line = "42 (VLLM::Engine (x)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10"
    assert d.parse_stat(line) == ("VLLM::Engine (x)", "S", 7, 123456)


def test_parse_dump_drops_the_dumping_shell_and_keeps_argv():
    out = ("@@SELF 99\n"
           "@@PROC 7\n7 (python3) S 0 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0\n@@CMD\n"
           "python3\x00-m\x00dynamo.vllm\x00--model\x00Q\x00\n@@END\n"
           "@@PROC 8\n8 (python3) S 7 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 600 0 0\n@@CMD\nVLLM::EngineCore\n@@END\n"
           "@@PROC 99\n99 (sh) S 1 99 99 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 900 0 0\n@@CMD\nsh\x00-c\x00dynamo.vllm\x00\n@@END\n"
           "@@PROC 100\n100 (cat) R 99 99 99 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 901 0 0\n@@CMD\ncat\x00\n@@END\n")
    procs = d.parse_dump(out)
    assert [(p.pid, p.cmdline) for p in procs] == [(7, "python3 -m dynamo.vllm --model Q"), (8, "VLLM::EngineCore")]
    assert [p.pid for p in d.match_processes(procs, ("dynamo.vllm",))] == [7]
    assert [p.pid for p in d.match_processes(procs, ("mpi4py.futures.server", "VLLM::EngineCore"))] == [8]
    assert d.match_processes(procs, ("sglang::scheduler",)) == []


def test_dump_script_runs_in_a_real_sh_and_finds_a_real_process():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ft-marker-dump"])
    try:
        out = subprocess.run(d.dump_command(), capture_output=True, text=True, timeout=30).stdout
        found = d.match_processes(d.parse_dump(out), ("ft-marker-dump",))
        assert [p.pid for p in found] == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_kill_script_refuses_a_reused_pid_and_kills_the_right_one():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ft-marker-kill"])
    try:
        out = subprocess.run(d.dump_command(), capture_output=True, text=True, timeout=30).stdout
        (proc,) = d.match_processes(d.parse_dump(out), ("ft-marker-kill",))
        wrong = subprocess.run(d.kill_command(proc.pid, proc.start_time + 1, "KILL"), capture_output=True, text=True)
        assert d.parse_kill(wrong.stdout) == "reused" and child.poll() is None
        right = subprocess.run(d.kill_command(proc.pid, proc.start_time, "KILL"), capture_output=True, text=True)
        assert d.parse_kill(right.stdout) == "sent"
        assert child.wait(10) == -9
        gone = subprocess.run(d.kill_command(proc.pid, proc.start_time, "KILL"), capture_output=True, text=True)
        assert d.parse_kill(gone.stdout) == "gone"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_main_process_pattern_comes_from_the_pod_spec():
    assert d.main_process_patterns(_pod("w", "decode")) == ("dynamo.vllm",)


def test_judgements_say_what_was_seen():
    before = {"target": "p", "uid": "u1", "before": {"restart_count": 0}}
    assert d.judge_pod_delete(before, {"gone_ns": None, "after": {"terminating": True}})[1].endswith(
        "finalizers or grace period hold it)")
    ok, detail = d.judge_pod_delete(before, {"gone_ns": 5, "replacement": "p2", "replacement_uid": "u2", "ready_ns": 9})
    assert ok and "replacement p2 (UID u2) Ready" in detail

    procs = {"target": "p", "processes": [{"pid": 7}], "before": {"restart_count": 0}}
    assert not d.judge_process_kill(procs, {"signal_results": {"7": "reused"}})[0]
    assert not d.judge_process_kill(procs, {"signal_results": {"7": "sent"}, "after": {"restart_count": 0}})[0]
    restarted = {"restart_count": 1, "last_state": {"terminated": {"exitCode": 137, "reason": "Error"}}}
    ok, detail = d.judge_process_kill(procs, {"signal": "SIGKILL", "signal_results": {"7": "sent"},
                                              "after": restarted, "ready_ns": 3})
    assert ok and "restartCount 0 -> 1, last exit 137 Error" in detail and "Ready again" in detail
    assert not d.judge_process_kill({"target": "p", "processes": [], "patterns": ["x"]}, {})[0]


def test_a_force_delete_takes_effect_only_once_the_container_was_seen_stopping():
    before = {"target": "p", "uid": "u1"}
    gone = {"gone_ns": 5, "replacement": "p2", "replacement_uid": "u2", "ready_ns": 9}
    ok, detail = d.judge_pod_delete(before, {**gone, "after": {"grace_period_s": 0, "container_stopped_ns": None}})
    assert not ok and "force-deleted (grace 0) but its container was not seen stopping" in detail
    killing = {"runner_ns": 6, "message": "Stopping container main"}
    ok, detail = d.judge_pod_delete(before, {**gone, "after": {"grace_period_s": 0, "container_stopped_ns": 6,
                                                               "killing_event": killing}})
    assert ok and "kubelet stopped the container (Stopping container main)" in detail
    assert d.judge_pod_delete(before, {**gone, "after": {"grace_period_s": 30}})[0]  # the kubelet confirmed the delete


def test_killing_events_and_terminated_containers_are_found_after_the_fault():
    event = {"reason": "Killing", "message": "Stopping container main",
             "involvedObject": {"kind": "Pod", "name": "g-decode-abc", "uid": "u1"}}
    assert d.killed_pod(event) == "u1"
    assert d.killed_pod({**event, "reason": "Pulled"}) is None
    assert d.killed_pod({"reason": "Killing", "regarding": {"kind": "Pod", "name": "g-decode-abc"}}) == "g-decode-abc"
    history = [{"runner_ns": 1, "containers": {"main": {"state": {"terminated": {"exitCode": 1}}}}},
               {"runner_ns": 5, "containers": {"main": {"state": {"running": {}}}}},
               {"runner_ns": 7, "containers": {"main": {"state": {"terminated": {"exitCode": 137}}}}}]
    assert d.container_terminated_ns(history, "main", 3) == 7  # the earlier crash is not this fault's
    assert d.first_after([{"runner_ns": 2}, {"runner_ns": 8}], 3) == {"runner_ns": 8}


def test_a_restart_count_that_was_already_up_is_not_a_restart():
    procs = {"target": "p", "processes": [{"pid": 7}], "before": {"restart_count": 2}}
    after = {"signal_results": {"7": "sent"}, "after": {"restart_count": 2}}
    assert not d.judge_process_kill(procs, after)[0]
    after["after"]["restart_count"] = 3
    assert "restartCount 2 -> 3" in d.judge_process_kill(procs, after)[1]


def test_events_are_filtered_to_the_graph_and_keep_both_clocks():
    event = {"involvedObject": {"kind": "Pod", "name": "g-decode-abc"}, "reason": "Killing", "type": "Normal",
             "lastTimestamp": "2026-01-01T00:00:02Z", "metadata": {"uid": "e1"}, "source": {"component": "kubelet"}}
    assert d.event_concerns(event, "g", set()) and not d.event_concerns(event, "other", set())
    rec = d.event_record(event, "ADDED", 123)
    assert rec["runner_ns"] == 123 and rec["server_time"] == "2026-01-01T00:00:02Z" and rec["reporter"] == "kubelet"


def test_service_dns_in_cluster_port_forward_otherwise():
    assert use_service("auto", {"FT_RUNNER_IN_CLUSTER": "1"}) and not use_service("auto", {})
    assert use_service("service", {}) and not use_service("port-forward", {"FT_RUNNER_IN_CLUSTER": "1"})
    assert service_url("run-x", "Frontend", "ft", 8000) == "http://run-x-frontend.ft.svc:8000"  # any cluster domain

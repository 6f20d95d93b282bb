"""The DGD patches for scaling and rolling a component (applied as an API server applies them, and the result
validated against the real CRD), and the judgements of what the pods did. Pure: no cluster."""

from __future__ import annotations

import copy

import pytest

from runner.core.config import RunConfig
from runner.platforms.kubernetes import scaling as s
from runner.render.dgd import render_dgd, roles_of
from runner.scenarios.plan import plan
from tests.render.crds import errors, require_shared

from .patching import PatchFailed, apply

DP2 = "mocker-disagg-prefill-tp-1-decode-tp-1-dp-2-decode_worker_scale_down"


def _dgd(version: str, name: str = DP2) -> dict:
    config = RunConfig(platform="kubernetes", kubernetes={"api_version": version, "namespace": "ft"})
    return render_dgd(plan(name, config), run_id="r1")


def _component(dgd: dict, role: str) -> str:
    return roles_of(dgd)[role][0].name


def _others(dgd: dict, component: str) -> dict:
    spec = dgd["spec"]
    if "components" in spec:
        return {c["name"]: c for c in spec["components"] if c["name"] != component}
    return {n: v for n, v in spec["services"].items() if n != component}


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_a_replicas_patch_changes_that_components_count_only_and_still_validates(version):
    require_shared()
    dgd = _dgd(version)
    decode = _component(dgd, "decode")
    patch = s.replicas_patch(dgd, decode, 1)
    after = apply(dgd, patch.body, patch.content_type)
    assert s.component_replicas(after, decode) == 1 and s.component_replicas(dgd, decode) == 2
    assert _others(after, decode) == _others(dgd, decode)
    assert errors(after) == []
    assert patch.what == f"{decode} replicas 2 -> 1"


def test_v1beta1_takes_a_json_patch_guarded_by_the_components_name_and_v1alpha1_a_merge_patch():
    beta, alpha = _dgd("v1beta1"), _dgd("v1alpha1")
    decode = _component(beta, "decode")
    i = [c["name"] for c in beta["spec"]["components"]].index(decode)
    patch = s.replicas_patch(beta, decode, 3)
    assert patch.content_type == s.JSON_PATCH
    assert patch.body == [{"op": "test", "path": f"/spec/components/{i}/name", "value": decode},
                          {"op": "replace", "path": f"/spec/components/{i}/replicas", "value": 3}]
    # the list was reordered since the patch was built: the test fails the patch instead of scaling another
    reordered = copy.deepcopy(beta)
    comps = reordered["spec"]["components"]
    comps.append(comps.pop(0))
    with pytest.raises(PatchFailed, match="test of"):
        apply(reordered, patch.body, patch.content_type)
    merge = s.replicas_patch(alpha, _component(alpha, "decode"), 3)
    assert merge.content_type == s.MERGE_PATCH
    assert merge.body == {"spec": {"services": {_component(alpha, "decode"): {"replicas": 3}}}}


def test_a_component_without_replicas_counts_as_one_and_gets_them_added():
    dgd = _dgd("v1beta1")
    decode = _component(dgd, "decode")
    for comp in dgd["spec"]["components"]:
        if comp["name"] == decode:
            del comp["replicas"]
    assert s.component_replicas(dgd, decode) == 1
    patch = s.replicas_patch(dgd, decode, 2)
    assert patch.body[1]["op"] == "add" and s.component_replicas(apply(dgd, patch.body, patch.content_type), decode) == 2
    with pytest.raises(ValueError):
        s.replicas_patch(dgd, decode, -1)
    with pytest.raises(KeyError, match="no component 'nope'"):
        s.replicas_patch(dgd, "nope", 1)


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_a_roll_patch_sets_a_new_pod_template_annotation_keeps_the_rest_and_validates(version):
    require_shared()
    dgd = _dgd(version)
    decode = _component(dgd, "decode")
    first = apply(dgd, *_body(s.roll_patch(dgd, decode, "t1", "surge")))
    assert s.rolled_to(first, decode) == "t1" and s.rolled_to(dgd, decode) is None
    second = apply(first, *_body(s.roll_patch(first, decode, "t2", "replace")))
    assert s.rolled_to(second, decode) == "t2"
    assert _others(second, decode) == _others(dgd, decode)  # the other components are not touched
    assert errors(first) == [] and errors(second) == []
    spec = _spec(second, decode)
    if version == "v1beta1":
        meta = spec["podTemplate"]["metadata"]
        assert meta["labels"] == _spec(dgd, decode)["podTemplate"]["metadata"]["labels"]  # labels kept
        assert meta["annotations"][s.MAX_SURGE] == "0" and meta["annotations"][s.MAX_UNAVAILABLE] == "1"
        assert spec["podTemplate"]["spec"] == _spec(dgd, decode)["podTemplate"]["spec"]
    else:
        assert spec["annotations"] == {s.MAX_SURGE: "0", s.MAX_UNAVAILABLE: "1"}
        assert spec["extraPodSpec"] == _spec(dgd, decode)["extraPodSpec"]


def test_the_roll_annotations_key_is_escaped_in_the_json_pointer():
    dgd = _dgd("v1beta1")
    decode = _component(dgd, "decode")
    once = apply(dgd, *_body(s.roll_patch(dgd, decode, "t1", "surge")))
    ops = s.roll_patch(once, decode, "t2", "surge").body  # annotations exist now: one op per key
    assert any(op["path"].endswith("/annotations/dynamo-ft-runner~1rollout") and op["value"] == "t2" for op in ops)
    assert s.pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"
    assert "surge" in s.roll_patch(dgd, decode, "t", "surge").what and "max-surge 1" in s.roll_patch(
        dgd, decode, "t", "surge").what


def _body(patch: s.Patch):
    return patch.body, patch.content_type


def _spec(dgd: dict, component: str) -> dict:
    return s._spec_of(dgd, component)


# ---------------------------------------------------------------- judgements


def _t(name, seen=1, ready=None, term=None, gone=None, code=None) -> s.PodTrack:
    return s.PodTrack(name, f"uid-{name}", seen, ready, term, gone, code)


def test_track_reads_first_sighting_terminating_and_the_exit_code_off_the_history():
    history = [{"runner_ns": 10, "terminating": False, "containers": {"main": {"state": {"running": {}}}}},
               {"runner_ns": 20, "terminating": True, "containers": {"main": {"state": {"running": {}}}}},
               {"runner_ns": 30, "terminating": True,
                "containers": {"main": {"state": {"terminated": {"exitCode": 143}}}}}]
    t = s.track("p", "u", history, ready_ns=15, gone_ns=40)
    assert (t.seen_ns, t.ready_ns, t.terminating_ns, t.gone_ns, t.exit_code, t.left_ns) == (10, 15, 20, 40, 143, 20)
    assert s.track("q", "v", [], None, 5).left_ns == 5


def test_a_scale_up_is_done_when_as_many_new_pods_are_ready():
    before = {"uid-a"}
    done, out = s.judge_scale_up([_t("a", ready=1), _t("b", seen=5)], before, 1, "decode")
    assert not done and out[0]["target"] == "b" and not out[0]["took_effect"]
    done, out = s.judge_scale_up([_t("a", ready=1), _t("b", seen=5, ready=9)], before, 1, "decode")
    assert done and out == [{"target": "b", "uid": "uid-b", "started_ns": 5, "ready_ns": 9, "took_effect": True,
                             "detail": "b (new pod of decode) ready"}]
    done, out = s.judge_scale_up([_t("a", ready=1)], before, 1, "decode")
    assert not done and out[0]["detail"] == "no new pod of decode appeared" and out[0]["target"] is None


def test_a_scale_down_names_the_pod_the_controller_removed_not_the_target():
    before = {"uid-a", "uid-b"}
    going = [_t("a", ready=1), _t("b", ready=1, term=12)]
    done, (r,) = s.judge_scale_down(going, before, ["a"], 10, "decode")
    assert not done and r["removed_pod"] == "b" and not r["took_effect"] and "terminating, not gone yet" in r["detail"]
    gone = [_t("a", ready=1), _t("b", ready=1, term=12, gone=14, code=0)]
    done, (r,) = s.judge_scale_down(gone, before, ["a"], 10, "decode")
    assert done and r["took_effect"] and r["removed_pod"] == "b" and r["gone_ns"] == 14 and r["stop_ns"] == 12
    assert "not the named target a, which the controller kept" in r["detail"] and r["chosen_by"] == "controller"
    done, (r,) = s.judge_scale_down([_t("a", ready=1, term=12, gone=13), _t("b")], before, ["a"], 10, "decode")
    assert "the named target itself" in r["detail"]


def test_a_scale_down_that_was_replaced_or_began_before_the_patch_does_not_count():
    before = {"uid-a", "uid-b"}
    replaced = [_t("a", term=12, gone=14), _t("b"), _t("c", seen=15)]
    done, (r,) = s.judge_scale_down(replaced, before, ["a"], 10, "decode")
    assert done and not r["took_effect"] and "c appeared: replaced" in r["detail"]
    earlier = [_t("a", term=5, gone=6), _t("b")]
    done, (r,) = s.judge_scale_down(earlier, before, ["a"], 10, "decode")
    assert not done and r["removed_pod"] is None


def test_a_rollout_pairs_the_kth_old_pod_to_go_with_the_kth_new_pod_ready():
    old = {"a": "uid-a", "b": "uid-b"}
    role = set(old.values())
    tracks = [_t("a", ready=1, term=30, gone=35), _t("b", ready=1, term=20, gone=25),
              _t("n1", seen=10, ready=15), _t("n2", seen=26, ready=40)]
    done, steps = s.judge_rollout(tracks, old, role, 5, "decode")
    assert done and [x["target"] for x in steps] == ["a", "b"]  # in the fault step's order
    a, b = steps
    assert (b["replacement"], b["stop_ns"], b["gone_ns"], b["ready_ns"]) == ("n1", 20, 25, 15)  # b went first
    assert (a["replacement"], a["ready_ns"]) == ("n2", 40)
    assert "(surge)" in b["detail"] and "(replace)" in a["detail"]


def test_a_rollout_nothing_acted_on_leaves_every_old_pod_running():
    old = {"a": "uid-a", "b": "uid-b"}
    done, steps = s.judge_rollout([_t("a", ready=1), _t("b", ready=1)], old, set(old.values()), 5, "decode")
    assert not done and all(not x["took_effect"] and x["replacement"] is None for x in steps)
    assert steps[0]["detail"] == "no new pod of decode for it; a left running"
    done, steps = s.judge_rollout([_t("a", ready=1)], {"a": "uid-a", "x": ""}, {"uid-a"}, 5, "decode")
    assert steps[1]["detail"] == "no new pod of decode for it; x is not a pod the watch saw"


def test_the_diagnosis_names_the_missing_operator_when_nothing_reconciled_the_patch():
    unreconciled = {"metadata": {"generation": 2}, "status": {}}
    text = s.operator_diagnosis(unreconciled, 2)
    assert "status.observedGeneration is unset" in text and "no Dynamo operator acted on it" in text
    behind = {"metadata": {"generation": 3}, "status": {"observedGeneration": 2}}
    assert "observedGeneration is 2" in s.operator_diagnosis(behind, 3)
    seen = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "state": "pending",
                                                       "rollingUpdate": {"phase": "InProgress"}}}
    assert s.operator_diagnosis(seen, 2) == ("the operator reconciled generation 2 (state pending, rollingUpdate "
                                             "{'phase': 'InProgress'}) but the pods did not change as asked")
    assert s.operator_diagnosis(None, 2) == "the DGD is gone"
    out = s.with_diagnosis([{"took_effect": True, "detail": "ok"}, {"took_effect": False, "detail": "no pod"}], "why", 5)
    assert [o["detail"] for o in out] == ["ok", "no pod within 5 s: why"]


def test_pods_of_other_roles_that_changed_during_a_rollout_are_reported():
    tracks = {"prefill": [_t("p1", ready=1, term=12, gone=14), _t("p2", seen=11, ready=13)], "frontend": [_t("f", ready=1)]}
    before = {"prefill": {"uid-p1"}, "frontend": {"uid-f"}}
    changed = s.other_roles_changed(tracks, before, 10)
    assert changed == {"prefill": {"went": ["p1"], "came": ["p2"]}}
    (step,) = s.with_other_roles([{"detail": "a rolled"}], changed)
    assert step["detail"] == "a rolled; also during the rollout, prefill: 1 pod(s) went, 1 came"
    assert s.with_other_roles([{"detail": "x"}], {}) == [{"detail": "x"}]

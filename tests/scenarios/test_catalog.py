import pytest

from runner.scenarios.catalog import UnknownScenario, catalog, lookup, select


def test_upstream_matrix_sizes():
    # upstream's generated matrix: 60 vLLM, 72 SGLang, 60 TRT-LLM, 15 MoE (custom build); the stall faults,
    # graceful stops, rolling upgrades, scale-downs, partitions, connection resets, overloads and cancel storms
    # are ours, on top
    def upstream(entries):
        ours = ("_stall", "_sigterm", "_rolling_upgrade", "_scale_down", "_partition", "_conn_reset", "overload",
                "cancel_storm")
        return [e for e in entries if not e.failure.endswith(ours)]

    assert len(upstream(select(backend="vllm", include_custom_build=False))) - 2 == 60  # minus 2 overflow entries
    assert len(upstream(select(backend="sglang"))) - 2 == 72
    assert len(upstream(select(backend="trtllm"))) - 2 == 60
    assert len(upstream(e for e in catalog().values() if e.custom_build and e.migration is None)) == 15


def test_every_deployment_has_a_stall_of_each_of_its_roles():
    stalls = {e.name for e in select(failure="decode_worker_stall")} | {e.name for e in select(failure="frontend_stall")}
    assert {"mocker-agg-tp-1-dp-1-decode_worker_stall", "vllm-agg-tp-2-dp-1-frontend_stall"} <= stalls
    assert not select(mode="agg", failure="prefill_worker_stall")
    assert lookup("mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-prefill_worker_stall").platforms == ("local", "kubernetes")


def test_names_follow_upstream_patterns():
    assert "vllm-agg-tp-1-dp-2-decode_worker_pod" in catalog()
    assert "sglang-disagg-prefill-tp-2-decode-tp-2-dp-1-sglang_prefill_scheduler" in catalog()
    assert "vllm-moe-disagg-tp-1-dp-2-prefill_worker" in catalog()
    assert "trtllm_disagg_token_overflow_2x" in catalog()
    assert "mocker-agg-tp-1-dp-2-decode_worker" in catalog()


def test_prefill_faults_only_for_disaggregated():
    assert not select(mode="agg", failure="prefill_worker")
    assert all(e.mode == "disagg" for e in select(failure="prefill_worker_pod"))


def test_group_and_roles():
    e = lookup("mocker-disagg-prefill-tp-1-decode-tp-1-dp-2-prefill_worker")
    assert e.deployment_name == "mocker-disagg-prefill-tp-1-decode-tp-1-dp-2"
    assert e.hit_role == "prefill" and e.fault_kind == "process"
    assert e.replicas("prefill") == 2 and e.replicas("decode") == 2
    assert lookup("mocker-agg-tp-1-dp-1-none").replicas("prefill") == 0


def test_platforms():
    assert "local" in lookup("mocker-agg-tp-1-dp-1-decode_worker_pod").platforms
    assert lookup("vllm-agg-tp-1-dp-1-decode_worker").platforms == ("kubernetes",)
    reason = lookup("vllm-agg-tp-1-dp-1-vllm_decode_engine_core").unsupported_reason("local")
    assert "mocker" in reason and "GPU" in reason
    assert lookup("mocker_agg_token_overflow_2x").context_limit == 1024


def test_unknown_names_suggest_closest():
    with pytest.raises(UnknownScenario) as err:
        lookup("mocker-agg-tp-1-dp-1-decode_wrker")
    assert "mocker-agg-tp-1-dp-1-decode_worker" in str(err.value)


def test_moe_runs_data_parallelism_inside_one_pod():
    e = lookup("vllm-moe-agg-tp-1-dp-2-decode_worker")
    assert e.custom_build and e.replicas("decode") == 1 and e.replicas("prefill") == 0
    assert lookup("vllm-moe-disagg-tp-1-dp-2-prefill_worker").replicas("prefill") == 1


def test_every_process_pod_subprocess_worker_stall_and_network_cut_fault_runs_with_migration_on_and_off():
    from runner.scenarios.catalog import DEFAULT_MIGRATION_LIMIT

    for entry in select(include_migration_variants=False):
        names = {f"{entry.name}-migration-on", f"{entry.name}-migration-off"}
        ours_on_the_frontend = entry.failure in ("frontend_stall", "frontend_sigterm")
        if entry.fault_kind in ("process", "pod", "subprocess", "stall", "partition", "reset") and not ours_on_the_frontend:
            assert names <= catalog().keys(), entry.name
        else:
            assert not names & catalog().keys(), entry.name
    off = lookup("mocker-agg-tp-1-dp-2-decode_worker-migration-off")
    on = lookup("mocker-agg-tp-1-dp-2-decode_worker-migration-on")
    assert off.deployment_name == on.deployment_name == "mocker-agg-tp-1-dp-2"
    assert off.failure == on.failure == "decode_worker" and off.failure_label == "decode_worker-migration-off"
    assert off.migration_limit(3) == 0 and on.migration_limit(0) == DEFAULT_MIGRATION_LIMIT and on.migration_limit(5) == 5
    assert lookup("mocker-agg-tp-1-dp-2-decode_worker").migration_limit(7) == 7  # the plain name: as configured
    assert "local" in off.platforms


def test_filters_select_the_plain_names_unless_asked_for_the_variants():
    plain = select(backend="mocker", failure="decode_worker")
    both = select(backend="mocker", failure="decode_worker", include_migration_variants=True)
    assert all(e.migration is None for e in plain) and len(both) == 3 * len(plain)

"""runner.faults: every module declares its faults; the catalog, checks and tables read them from there."""

from __future__ import annotations

import asyncio

import pytest

from runner import faults
from runner.faults.base import Fault
from runner.report.tables import _failure_rank
from runner.results.checks import known_limitation
from runner.scenarios.catalog import catalog, lookup, select


def test_every_fault_has_a_unique_name_a_known_role_and_a_rank():
    found = faults.registry()
    assert len(found) == len(set(f.order for f in found.values())), "two faults share a display rank"
    assert all(f.role in ("", "frontend", "decode", "prefill", "etcd", "nats") for f in found.values())
    assert list(found) == sorted(found, key=lambda n: found[n].order)


def test_the_signals_are_upstreams_a_graceful_frontend_and_killed_workers():
    assert faults.get("frontend").signal_name == "INT"
    assert faults.get("decode_worker").signal_name == faults.get("prefill_worker").signal_name == "KILL"
    assert faults.get("vllm_decode_engine_core").signal_name == "KILL"


def test_engine_titles_match_what_each_backend_sets():
    assert faults.get("vllm_decode_engine_core").processes == ("VLLM::EngineCore",)
    assert faults.get("trtllm_decode_engine_core").processes[0] == "mpi4py.futures.server"
    assert not any("TRTLLM::EngineCore" in str(f.processes) for f in faults.registry().values())
    assert faults.get("sglang_prefill_detokenizer").processes == ("sglang::detokenizer",)


def test_engine_faults_run_only_on_their_backend_and_in_a_cluster():
    engine = faults.get("sglang_decode_scheduler")
    assert engine.applies_to("sglang", "agg") and not engine.applies_to("vllm", "agg")
    assert {e.backend for e in select(failure="sglang_decode_scheduler")} == {"sglang"}
    assert all(e.platforms == ("kubernetes",) for e in select(failure="vllm_decode_engine_core"))


def test_the_catalog_the_checks_and_the_tables_read_a_fault_from_its_module():
    entry = lookup("sglang-agg-tp-1-dp-1-sglang_decode_scheduler")
    assert entry.hit_role == "decode" and entry.fault_kind == "subprocess"
    assert known_limitation(entry) and "zombie" in known_limitation(entry)
    assert known_limitation(lookup("mocker-agg-tp-1-dp-1-decode_worker")) is None
    assert {e.failure for e in catalog().values()} == set(faults.names())


def test_a_fault_module_added_to_the_package_is_in_the_catalog(tmp_path, monkeypatch):
    """The one-module promise: a new module in runner/faults/ with FAULTS is picked up with no other edit."""
    module = tmp_path / "faults_extra"
    module.mkdir()
    (module / "drill.py").write_text(
        "from runner.faults.base import Fault\n"
        "FAULTS = (Fault(name='decode_worker_drill', role='decode', kind='process', order=29),)\n")
    monkeypatch.setattr(faults, "__path__", [*faults.__path__, str(module)])
    monkeypatch.setattr("sys.path", [str(module), *__import__("sys").path])
    faults.registry.cache_clear()
    try:
        import importlib

        real_import = importlib.import_module
        monkeypatch.setattr(importlib, "import_module",
                            lambda name: real_import("drill") if name == "runner.faults.drill" else real_import(name))
        assert faults.get("decode_worker_drill").applies_to("mocker", "agg")
    finally:
        faults.registry.cache_clear()


def test_an_unknown_failure_in_an_old_summary_sorts_after_every_known_one():
    class Old:
        failure, scenario = "gone_fault", "x"

    assert _failure_rank(Old())[0] > max(f.order for f in faults.registry().values())


def test_a_fault_without_behaviour_says_so():
    with pytest.raises(NotImplementedError, match="injects nothing"):
        asyncio.run(Fault(name="x", role="decode", kind="process", order=1).inject(None, []))


def test_a_graceful_stop_is_sigterm_to_the_main_process_and_waits_for_the_restart():
    for name, role in (("frontend_sigterm", "frontend"), ("decode_worker_sigterm", "decode"),
                       ("prefill_worker_sigterm", "prefill")):
        fault = faults.get(name)
        assert (fault.signal_name, fault.role, fault.kind, fault.processes) == ("TERM", role, "process", None)
    assert lookup("mocker-agg-tp-1-dp-2-decode_worker_sigterm").platforms == ("local", "kubernetes")


def test_load_faults_run_on_both_platforms_the_mocker_locally():
    for name in ("overload", "cancel_storm"):
        entries = [e for e in select(failure=name) if not e.moe]
        assert entries and all(e.platforms == (("local", "kubernetes") if e.backend == "mocker" else ("kubernetes",))
                               for e in entries), name
        assert {e.backend for e in entries} == {"mocker", "vllm", "sglang", "trtllm"}
    assert not any(e.migration is not None for e in catalog().values() if e.failure in ("overload", "cancel_storm"))


def test_network_faults_run_on_both_platforms():
    """The cut is an iptables chain locally and an ephemeral container on Kubernetes, for every backend there."""
    for name in ("decode_worker_partition", "prefill_worker_partition", "decode_worker_conn_reset"):
        entries = select(failure=name)
        assert {e.platforms for e in entries if e.backend == "mocker"} == {("local", "kubernetes")}, name
        assert {e.platforms for e in entries if e.backend != "mocker"} == {("kubernetes",)}, name
    assert lookup("vllm-agg-tp-1-dp-2-decode_worker_partition").platforms == ("kubernetes",)
    assert lookup("mocker-agg-tp-1-dp-2-decode_worker_partition-migration-off").migration is False
    assert not select(failure="prefill_worker_partition", mode="agg")

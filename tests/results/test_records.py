import pytest

from runner.results.records import MalformedExport, iter_aiperf, load_tree


def test_reads_the_real_aiperf_sample(shared_dir):
    recs = list(iter_aiperf(shared_dir / "notes/aiperf-sample/profile_export.first4.jsonl"))
    assert len(recs) == 4
    assert [r.ok for r in recs] == [False, True, True, True]
    assert recs[0].status == 500 and "500" in recs[0].error
    ok = recs[1]
    assert ok.end_ns > ok.start_ns and ok.latency_ms > 0 and ok.output_tokens == 100


def test_reads_every_error_kind(shared_dir):
    recs = list(iter_aiperf(shared_dir / "notes/aiperf-sample/error_records_examples.jsonl"))
    assert recs and not any(r.ok for r in recs)
    assert any(r.status == 503 for r in recs)
    assert any("ClientConnectorError" in (r.error or "") for r in recs)


def test_malformed_export_names_file_and_line(tmp_path):
    d = tmp_path / "client_0" / "attempt_0"
    d.mkdir(parents=True)
    (d / "profile_export.jsonl").write_text('{"metadata": {"request_start_ns": 1}}\n{"nope": 1}\n')
    with pytest.raises(MalformedExport, match=r"profile_export.jsonl:2"):
        load_tree(tmp_path)


def test_partial_last_line_of_a_live_export_is_ignored(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"metadata": {"request_start_ns": 1, "request_end_ns": 2}}\n{"metadata": {"req')
    assert len(list(iter_aiperf(p))) == 1

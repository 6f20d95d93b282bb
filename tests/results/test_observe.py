"""Counters read from a `<pod>.metrics.log` of successive 1 Hz scrapes."""

from runner.results.observe import counter_over_scrapes, tree_counter_total

FAMILY = "dynamo_frontend_model_migration"


def scrape(value: float | None, header: str = "time_ns=1 pid=7") -> str:
    sample = (f'dynamo_frontend_model_migration_total{{migration_type="new_request",model="m"}} {value}\n'
              if value is not None else "")
    return f"# scrape {header}\n# TYPE dynamo_frontend_model_migration_total counter\n{sample}\n"


def test_the_last_value_of_each_process_life_is_summed():
    # 1, 2, 3 then the container restarts and counts 1, 2 again
    text = "".join(scrape(v) for v in (1, 2, 3, 1, 2))
    assert counter_over_scrapes(text, FAMILY) == 5


def test_absent_counters_and_failed_scrapes_give_none():
    assert counter_over_scrapes(scrape(None) + "# scrape failed: ConnectionError\n", FAMILY) is None


def test_tree_total_sums_frontends(tmp_path):
    (tmp_path / "Frontend").mkdir()
    (tmp_path / "Frontend" / "fe-a.metrics.log").write_text(scrape(2) + scrape(3))
    (tmp_path / "Frontend" / "fe-b.metrics.log").write_text(scrape(4, header="runner_ns=1 time=x"))
    assert tree_counter_total(tmp_path, FAMILY) == 7
    assert tree_counter_total(tmp_path / "Frontend", FAMILY) is None


def test_families_sharing_the_name_as_a_prefix_are_not_counted():
    other = ('# TYPE dynamo_frontend_model_migration_seconds histogram\n'
             'dynamo_frontend_model_migration_seconds_count{model="m"} 40\n'
             '# TYPE dynamo_frontend_requests_total counter\ndynamo_frontend_requests_total{model="m"} 90\n')
    text = "".join(scrape(v).replace("\n\n", "\n" + other + "\n") for v in (1, 4))
    assert counter_over_scrapes(text, FAMILY) == 4

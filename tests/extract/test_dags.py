"""dag.test() of every extract DAG against real simulators and a real warehouse, and a backfill."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import assert_matches_truth, live, query, truth

from handoff.extract.sources import SOURCE_NAMES, get_source
from handoff.extract.stream import parse_ts

DAGS = Path(__file__).resolve().parents[2] / "dags"


def load_dag(source: str):
    """The DAG file's DAG. Tests that call .test() set HANDOFF_EXTRACT_DEADLINES=off first
    (see handoff.orchestration.deadlines.deadlines_enabled: an Airflow 3.3.2 dag.test() bug)."""
    spec = importlib.util.spec_from_file_location(f"extract_{source}_dagfile", DAGS / f"extract_{source}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.dag


def test_dag_shape():
    for source in SOURCE_NAMES:
        dag = load_dag(source)
        src = get_source(source)
        assert dag.dag_id == f"extract_{source}"
        assert dag.max_active_runs == 1
        assert {t.task_id for t in dag.tasks} == {s.name for s in src.streams}
        assert "extract" in dag.tags and dag.doc_md and "full_refresh" in dag.doc_md
        assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
        for t in dag.tasks:
            assert [(type(o).__name__, o.name) for o in t.outlets] == [("AssetAlias", f"raw_{source}.{t.task_id}:changes")]
            assert t.owner == "data-platform"


@pytest.mark.slow
def test_dag_test_every_source(airflow_env, sims, warehouse_url, monkeypatch):
    monkeypatch.setenv("HANDOFF_EXTRACT_LOOKBACK_SECONDS", "0")
    monkeypatch.setenv("HANDOFF_EXTRACT_DEADLINES", "off")
    airflow_env.connect(sims, warehouse_url)
    for source in SOURCE_NAMES:
        dr = load_dag(source).test()
        assert str(dr.state) in ("success", "DagRunState.SUCCESS"), (source, dr.state)
        for stream in get_source(source).streams:
            assert_matches_truth(sims, warehouse_url, source, stream.name)
    runs = query(warehouse_url, "SELECT source, stream, outcome, dag_id FROM ops.extract_runs")
    assert len(runs) == sum(len(get_source(s).streams) for s in SOURCE_NAMES)
    assert {r[2] for r in runs} == {"success"}
    assert all(r[3] == f"extract_{r[0]}" for r in runs)


@pytest.mark.slow
def test_backfill_reextracts_exactly_the_window(airflow_env, sims, warehouse_url, monkeypatch):
    """A run with window=interval loads the records modified inside its data interval, no more."""
    monkeypatch.setenv("HANDOFF_EXTRACT_DEADLINES", "off")
    airflow_env.connect(sims, warehouse_url)
    records, _ = truth(sims, "kantata", "time_entries")
    tie = parse_ts(sims.cases()["modstamp_ties"]["kantata.time_entries"])
    start = tie.replace(second=0)
    expected = {k: v for k, v in records.items() if start <= parse_ts(v["updated_at"]) < start + timedelta(minutes=1)}
    tied = [k for k, v in expected.items() if parse_ts(v["updated_at"]) == tie]
    assert len(tied) > 1  # a bulk approval: many records share one updated_at inside the window
    dag = load_dag("kantata")
    # A manual run's data interval is the cron interval that ends at its logical date.
    dr = dag.test(logical_date=start + timedelta(minutes=1), run_conf={"window": "interval"})
    assert str(dr.state) in ("success", "DagRunState.SUCCESS")
    assert live(warehouse_url, "kantata", "time_entries") == expected
    # A backfill never moves the cursor.
    assert query(warehouse_url, "SELECT count(*) FROM ops.extract_state WHERE cursor_ts IS NOT NULL")[0][0] == 0
    modes = query(warehouse_url, "SELECT DISTINCT mode, window_start, window_end FROM ops.extract_runs "
                                 "WHERE stream = 'time_entries'")
    assert modes == [("backfill", start, start + timedelta(minutes=1))]

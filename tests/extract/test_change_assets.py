"""Raw assets mean "data changed": an extract task announces its table only when rows changed;
freshness that does not depend on change comes from the run log (`ops.stream_freshness`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import after_request, connect_env, kt_touch, query, run
from test_dags import load_dag

from handoff.connectors.http import RetriesExhausted
from handoff.extract.sources import get_source


def asset_events(name: str) -> list[dict]:
    """The asset events Airflow recorded for the asset `name`, oldest first (their extras)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == name).order_by(AssetEvent.id)).all()
    return [r[0] for r in rows]


@pytest.mark.slow
def test_assets_only_when_rows_changed(airflow_env, sims, warehouse_url, monkeypatch):
    monkeypatch.setenv("HANDOFF_EXTRACT_LOOKBACK_SECONDS", "0")
    monkeypatch.setenv("HANDOFF_DEADLINES", "off")
    airflow_env.connect(sims, warehouse_url)
    streams = [s.name for s in get_source("kantata").streams]
    before = {s: len(asset_events(f"raw_kantata.{s}")) for s in streams}
    dag = load_dag("kantata")

    assert str(dag.test().state).endswith("success")
    first = {s: asset_events(f"raw_kantata.{s}")[before[s]:] for s in streams}
    assert all(len(e) == 1 and e[0]["changed"] > 0 for e in first.values()), first
    te_rows = query(warehouse_url, "SELECT count(*) FROM raw_kantata.time_entries")[0][0]
    assert first["time_entries"][0]["changed"] == te_rows
    assert first["time_entries"][0]["records"] == te_rows and first["time_entries"][0]["mode"] == "incremental"

    # Nothing changed at the source: every task succeeds, no asset event, the run log says alive.
    assert str(dag.test().state).endswith("success")
    assert {s: len(asset_events(f"raw_kantata.{s}")) - before[s] for s in streams} == {s: 1 for s in streams}
    fresh = dict(query(warehouse_url, """SELECT stream, last_success_at > last_change_at FROM ops.stream_freshness
                                          WHERE source = 'kantata'"""))
    assert fresh == {s: True for s in streams}

    # One time entry edited: exactly its stream announces, with the count.
    entry = next(iter(sims.truth("kantata", "time_entries")["records"]))
    kt_touch(sims, str(entry["id"]), int(sims.now().timestamp()))
    assert str(dag.test().state).endswith("success")
    after = {s: asset_events(f"raw_kantata.{s}")[before[s]:] for s in streams}
    assert {s: len(e) for s, e in after.items()} == {s: 2 if s == "time_entries" else 1 for s in streams}
    assert after["time_entries"][1]["changed"] == 1


def test_changes_committed_by_a_failed_attempt_are_announced_by_the_next_success(sims, warehouse_url,
                                                                                  monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    entry = next(iter(sims.truth("kantata", "time_entries")["records"]))
    kt_touch(sims, str(entry["id"]), int(sims.now().timestamp()))
    # The edit commits with the first page; then the delete sweep's listing keeps failing.
    after_request(monkeypatch, 1, lambda: sims.set_faults("kantata", {"error_5xx": 1.0}), "time_entries")
    with pytest.raises(RetriesExhausted):
        run("kantata", "time_entries", warehouse_url)
    assert query(warehouse_url, "SELECT outcome, changed FROM ops.extract_runs ORDER BY started_at")[-1] == \
        ("failed", 1)
    monkeypatch.undo()
    sims.clear_faults("kantata")
    connect_env(monkeypatch, sims, warehouse_url)
    retry = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(hours=1))
    assert retry.changed == 0 and retry.changed_since_success == 1  # the retry announces the failed one's edit
    again = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(hours=1))
    assert again.changed_since_success == 0

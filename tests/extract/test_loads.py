"""Full, incremental and delete handling per source, against real simulators and Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import assert_matches_truth, connect_env, live, query, raw_rows, run, truth

from handoff.extract.sources import SOURCE_NAMES, get_source


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_full_load_equals_truth(source, sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    for stream in get_source(source).streams:
        result = run(source, stream.name, warehouse_url)
        expected, _ = assert_matches_truth(sims, warehouse_url, source, stream.name)
        assert result.rejects == 0
        ledger = query(warehouse_url, "SELECT records, rejects, outcome FROM ops.extract_runs WHERE batch_id = %s",
                       result.batch_id)
        assert ledger == [(result.records, 0, "success")]
    # Exactly-known counts of the tiny seed-7 world.
    if source == "kantata":
        assert len(live(warehouse_url, "kantata", "time_entries")) == 401
    if source == "salesforce":  # queryAll brings the 3 soft-deleted contacts as deletes
        rows = raw_rows(warehouse_url, "salesforce", "Contact")
        assert sum(d for _, d in rows.values()) == 3 and len(rows) == 240


def test_incremental_reads_only_changes_and_converges(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    first = run("kantata", "time_entries", warehouse_url)
    assert first.records == 401 and first.mode == "incremental"
    # Nothing changed: the cursor's ties were proven whole by the first run, so they are counted,
    # not re-read: the count and what came after them, 2 requests (no look-back here, no sweep due).
    again = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(hours=1))
    assert again.records == 0 and again.requests == 2
    sims.advance(48)
    second = run("kantata", "time_entries", warehouse_url)
    expected, deleted = assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")
    assert 0 < second.records < len(expected)
    cursor = query(warehouse_url, "SELECT cursor_ts FROM ops.extract_state WHERE stream = 'time_entries'")[0][0]
    assert cursor.isoformat() == max(r["updated_at"] for r in expected.values())
    # Hard deletes after the first load were found by id reconciliation.
    rows = raw_rows(warehouse_url, "kantata", "time_entries")
    gone = [i for i in deleted if i in rows]
    assert all(rows[i][1] for i in gone)
    assert second.deletes == len(gone)


def test_incremental_salesforce_and_hubspot(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    for src, st in (("salesforce", "Opportunity"), ("hubspot", "deals"), ("netsuite", "invoice")):
        run(src, st, warehouse_url)
    sims.advance(72)
    for src, st in (("salesforce", "Opportunity"), ("hubspot", "deals"), ("netsuite", "invoice")):
        r = run(src, st, warehouse_url)
        assert r.mode == "incremental"
        assert_matches_truth(sims, warehouse_url, src, st)


@pytest.mark.parametrize("source,stream", [("salesforce", "Contact"), ("hubspot", "contacts"),
                                           ("netsuite", "invoice")])
def test_deletes_reported_by_the_system(source, stream, sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    r = run(source, stream, warehouse_url)
    _, deleted = assert_matches_truth(sims, warehouse_url, source, stream)
    rows = raw_rows(warehouse_url, source, stream)
    if source == "netsuite":  # the transaction table's deletes are invoices
        deleted = [d for d in deleted if d in rows]
    assert deleted and all(rows[d][1] for d in deleted)
    assert sum(d for _, d in rows.values()) == len(deleted)
    if source != "salesforce":
        assert r.deletes == len(deleted)


def test_workday_snapshot_diff_marks_missing_workers_deleted(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("workday", "workers", warehouse_url)
    w = sims.world
    with w.lock:  # the worker leaves the report (a purged record)
        gone = w.workers.pop(0)
        w.version += 1
    r = run("workday", "workers", warehouse_url)
    assert r.mode == "snapshot" and r.deletes == 1
    rows = raw_rows(warehouse_url, "workday", "workers")
    assert [k for k, (_, d) in rows.items() if d] == [gone["Worker_ID"]]
    with w.lock:
        w.workers.insert(0, gone)
        w.version += 1
    run("workday", "workers", warehouse_url)  # back in the report: live again
    assert_matches_truth(sims, warehouse_url, "workday", "workers")


def test_full_refresh_rereads_everything(sims, warehouse_url, monkeypatch):
    from handoff.extract.runlog import RunInfo

    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "expenses", warehouse_url)
    r = run("kantata", "expenses", warehouse_url, info=RunInfo(full_refresh=True))
    assert r.mode == "full_refresh" and r.records == len(truth(sims, "kantata", "expenses")[0])
    assert_matches_truth(sims, warehouse_url, "kantata", "expenses")

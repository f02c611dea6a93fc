"""Ties on the modification time across page and commit boundaries, interruptions, churn, caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import (
    after_request,
    assert_matches_truth,
    connect_env,
    kt_hard_delete,
    kt_touch,
    live,
    query,
    run,
    truth,
)

from handoff.connectors.http import RetriesExhausted
from handoff.extract.sources import hubspot, kantata
from handoff.extract.stream import parse_ts


def interrupt_after(monkeypatch, sims, system: str, requests: int, path_part: str):
    """From the request after the n-th on, the system answers 503: the run fails (retries spent)."""
    after_request(monkeypatch, requests, lambda: sims.set_faults(system, {"error_5xx": 1.0, "paths": path_part}),
                  path_part)
    return lambda: sims.clear_faults(system)


def test_kantata_ties_across_pages_and_an_interrupted_run(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 10)  # the bulk-approval tie group spans many pages
    expected, _ = truth(sims, "kantata", "time_entries")
    tie = sims.cases()["modstamp_ties"]["kantata.time_entries"]
    ordered = sorted(expected.values(), key=lambda r: (r["updated_at"], int(r["id"])))
    first_tie = next(i for i, r in enumerate(ordered) if r["updated_at"] == tie)
    # requests: the size count (too few to window), the first page, the newest-record probe, then one per page
    restore = interrupt_after(monkeypatch, sims, "kantata", first_tie // 10 + 5, "time_entries")
    with pytest.raises(RetriesExhausted):
        run("kantata", "time_entries", warehouse_url, commit_records=1)  # commit every page
    got = live(warehouse_url, "kantata", "time_entries")
    assert tie in {r["updated_at"] for r in got.values()}  # stopped inside the tie group
    assert len(got) < len(expected)
    restore()
    run("kantata", "time_entries", warehouse_url, commit_records=1)
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_kantata_walk_with_churn_falls_back_to_keyset(sims, warehouse_url, monkeypatch):
    """Records updated while paging shift later pages; the walk notices and re-reads by keyset."""
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 25)
    after_request(monkeypatch, 4, lambda: sims.advance(30), "time_entries")  # edits, approvals, deletes mid-walk
    run("kantata", "time_entries", warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    got = live(warehouse_url, "kantata", "time_entries")
    # Everything alive now is landed at its current version (deletes are the reconciliation's job).
    assert {k: got[k] for k in expected} == expected


def test_salesforce_contact_ties_beyond_a_batch(sims, warehouse_url, monkeypatch):
    """More than 200 contacts share one SystemModstamp; batches of 200, interrupted inside them."""
    connect_env(monkeypatch, sims, warehouse_url)
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_HANDOFF_SALESFORCE"])
    conn["extra"]["batch_size"] = "200"
    monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_SALESFORCE", json.dumps(conn))
    # requests: the size count (too few to window), the first batch; then the second batch fails
    restore = interrupt_after(monkeypatch, sims, "salesforce", 2, "query")
    with pytest.raises(RetriesExhausted):
        run("salesforce", "Contact", warehouse_url, commit_records=1)
    assert len(live(warehouse_url, "salesforce", "Contact")) == 200
    restore()
    r = run("salesforce", "Contact", warehouse_url, commit_records=1)
    assert r.pages == 2  # the tie group is re-read from its timestamp, not skipped
    assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")


def test_hubspot_search_cap_reanchors(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(hubspot, "SEARCH_LIMIT", 3)
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 6)  # forces a new query every 2 pages
    r = run("hubspot", "deals", warehouse_url, lookback=timedelta(0))
    expected, _ = truth(sims, "hubspot", "deals")
    assert r.pages == 8 and r.records == len(expected) == 24  # keyset re-anchoring re-reads nothing
    assert_matches_truth(sims, warehouse_url, "hubspot", "deals")

QUIET = timedelta(hours=1)  # runs between two delete sweeps (the proof is used only there)


def test_kantata_cursor_ties_are_counted_not_reread_until_they_change(sims, warehouse_url, monkeypatch):
    """A late writer stamped at the cursor's second changes its count: the group is read again."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    cursor = max(r["updated_at"] for r in expected.values())
    at_cursor = [k for k, r in expected.items() if r["updated_at"] == cursor]
    proof = query(warehouse_url, "SELECT cursor_extra->'proof' FROM ops.extract_state WHERE stream = 'time_entries'")
    assert proof == [({"ts": parse_ts(cursor).isoformat(), "count": len(at_cursor)},)]
    assert run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET).records == 0

    older = min(expected, key=lambda k: expected[k]["updated_at"])
    kt_touch(sims, older, int(parse_ts(cursor).timestamp()))  # written late, stamped at the cursor's second
    late = run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET)
    assert late.records == len(at_cursor) + 1
    assert live(warehouse_url, "kantata", "time_entries")[older]["updated_at"] == cursor
    assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")
    assert run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET).records == 0  # proven again


def test_kantata_cursor_ties_leaving_are_followed_not_reread(sims, warehouse_url, monkeypatch):
    """Edits move records out of the cursor's second: they are read at their new time, and the
    rest of the group is not re-read unless something else entered it."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    cursor = max(r["updated_at"] for r in expected.values())
    at_cursor = sorted(k for k, r in expected.items() if r["updated_at"] == cursor)
    later = int(parse_ts(cursor).timestamp()) + 60
    for k in at_cursor[:3]:
        kt_touch(sims, k, later)
    edited = run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET)
    assert edited.records == 3  # only the moved records
    assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")

    # Two leave, and a late writer enters at the same second: the count alone would hide it.
    group = sorted(k for k, r in truth(sims, "kantata", "time_entries")[0].items()
                   if parse_ts(r["updated_at"]).timestamp() == later)
    kt_touch(sims, group[0], later + 60)
    kt_touch(sims, group[1], later + 60)
    newcomer = min(expected, key=lambda k: expected[k]["updated_at"])
    kt_touch(sims, newcomer, later)
    mixed = run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET)
    assert mixed.records == 2 + (len(group) - 2 + 1)  # the two that left, then the whole second again
    assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")

    # One leaves and one enters: the count is unchanged, but the one read later gives it away.
    group = sorted(k for k, r in truth(sims, "kantata", "time_entries")[0].items()
                   if parse_ts(r["updated_at"]).timestamp() == later + 60)
    kt_touch(sims, group[0], later + 120)
    second = sorted(expected, key=lambda k: expected[k]["updated_at"])[1]
    kt_touch(sims, second, later + 60)
    swapped = run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET)
    assert swapped.records == 1 + len(group)
    assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")


def test_kantata_skipped_cursor_second_is_read_again_at_the_sweep(sims, warehouse_url, monkeypatch):
    """A hard delete and a late writer at the cursor's second leave its count unchanged: the quiet
    run cannot see it, the next run that sweeps for deletes reads the skipped second again."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    cursor = max(r["updated_at"] for r in expected.values())
    at_cursor = sorted(k for k, r in expected.items() if r["updated_at"] == cursor)
    kt_hard_delete(sims, at_cursor[0])
    newcomer = min(expected, key=lambda k: expected[k]["updated_at"])
    kt_touch(sims, newcomer, int(parse_ts(cursor).timestamp()))
    quiet = run("kantata", "time_entries", warehouse_url, reconcile_every=QUIET)
    assert quiet.records == 0  # the count is unchanged: nothing to see yet
    skipped = query(warehouse_url, "SELECT cursor_extra->'skipped' FROM ops.extract_state")
    assert skipped == [([parse_ts(cursor).isoformat()],)]
    swept = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(0))
    assert swept.deletes == 1
    assert live(warehouse_url, "kantata", "time_entries")[newcomer]["updated_at"] == cursor
    assert_matches_truth(sims, warehouse_url, "kantata", "time_entries")
    assert query(warehouse_url, "SELECT cursor_extra->'skipped' FROM ops.extract_state") == [([],)]

"""Kantata hides archived projects and their data by default; the extract asks for everything.

The world's closed project (`time_on_closed_project`: an archived workspace with time logged
after it closed) must land in raw_kantata.* and stay live through later incremental runs and the
id reconciliation, whose listings and `only=` confirmations see archived data only when asked.
"""

from __future__ import annotations

import requests
from helpers import assert_matches_truth, connect_env, query, raw_rows, run, truth

from handoff.sim import clock

STREAMS = ("workspaces", "stories", "time_entries", "expenses")


def _of_workspace(sims, stream: str, ws_id: str) -> set[str]:
    records = truth(sims, "kantata", stream)[0]
    return {i for i, r in records.items() if (i if stream == "workspaces" else r["workspace_id"]) == ws_id}


def _hidden_by_default(sims, stream: str, ids: set[str]) -> bool:
    """The simulator, asked without flags, lists none of `ids` (so a flagless extract would miss them)."""
    base = sims.url("kantata")
    creds = sims.credentials
    token = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                                      "client_secret": creds.client_secret}, timeout=10).json()
    body = requests.get(f"{base}/api/v1/{stream}.json", params={"only": ",".join(sorted(ids)), "per_page": 200},
                        headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10).json()
    return body["meta"]["count"] == 0 and body["results"] == []


def _reconciled_at(url: str, stream: str):
    rows = query(url, "SELECT cursor_extra->>'reconciled_at' FROM ops.extract_state "
                      "WHERE source = 'kantata' AND stream = %s", stream)
    return rows[0][0] if rows else None


def test_closed_project_lands_and_survives_incremental_runs_and_reconciliation(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    case = sims.cases()["time_on_closed_project"]
    ws = case["workspace_id"]
    expected = {s: _of_workspace(sims, s, ws) for s in STREAMS}
    assert set(case["time_entry_ids"]) <= expected["time_entries"]
    assert all(expected.values()), expected  # seed 7 tiny: the closed project has records of every kind
    assert all(_hidden_by_default(sims, s, ids) for s, ids in expected.items())

    for stream in STREAMS:  # first load
        r = run("kantata", stream, warehouse_url)
        assert r.rejects == 0
        assert_matches_truth(sims, warehouse_url, "kantata", stream)
    rows = {s: raw_rows(warehouse_url, "kantata", s) for s in STREAMS}
    assert rows["workspaces"][ws][0]["archived"] is True
    for stream, ids in expected.items():
        assert {i: rows[stream][i][1] for i in ids} == dict.fromkeys(ids, False), stream  # landed, live
    assert len(rows["time_entries"]) == 401  # every time entry of the tiny seed-7 world, archived ones included

    sims.advance(48)  # the world moves on: new time, approvals, hard deletes
    for stream in STREAMS:  # incremental runs; reconcile_every=0: the id reconciliation runs every time
        before = _reconciled_at(warehouse_url, stream)
        r = run("kantata", stream, warehouse_url)
        assert r.mode == "incremental"
        assert _reconciled_at(warehouse_url, stream) not in (None, before), stream  # the sweep did run
        _, deleted = assert_matches_truth(sims, warehouse_url, "kantata", stream)
        rows = raw_rows(warehouse_url, "kantata", stream)
        # what the closed project still has stays live (the clock may hard-delete a draft entry of it)
        still = _of_workspace(sims, stream, ws) & expected[stream]
        assert len(still) >= len(expected[stream]) - 2, stream
        assert {i: rows[i][1] for i in still} == dict.fromkeys(still, False), stream
        assert all(rows[i][1] for i in expected[stream] - still)
        assert all(rows[i][1] for i in deleted if i in rows)  # real hard deletes are still found
        if stream == "time_entries":
            assert r.deletes == sum(1 for i in deleted if i in rows)


def test_soft_deleted_story_is_marked_deleted(sims, warehouse_url, monkeypatch):
    """`show_deleted=true` lists soft-deleted stories: the extract reads `deleted_at` as the delete flag."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "stories", warehouse_url)
    w = sims.world
    archived = sims.cases()["time_on_closed_project"]["workspace_id"]
    gone = [next(r["id"] for r in w.kt["stories"].values() if r["workspace_id"] != archived),
            next(r["id"] for r in w.kt["stories"].values() if r["workspace_id"] == archived)]
    sims.advance(3)  # world time passes the newest story stamp (tick 0 holds stamps up to 01:59)
    with w.lock:
        for sid in gone:
            w.kt_touch("stories", sid, w.now, deleted_at=clock.kt_datetime(w.now))
    r = run("kantata", "stories", warehouse_url)
    assert r.mode == "incremental" and r.rejects == 0
    _, deleted = assert_matches_truth(sims, warehouse_url, "kantata", "stories")
    assert sorted(deleted) == sorted(gone)
    rows = raw_rows(warehouse_url, "kantata", "stories")
    assert all(rows[sid][1] and rows[sid][0]["deleted_at"] == clock.kt_datetime(w.now) for sid in gone)
    assert sum(d for _, d in rows.values()) == 2

"""Deletion sweeps run at the reconcile cadence, not every minute; between sweeps a run costs what
its changes cost (requests counted by the client)."""

from __future__ import annotations

from datetime import timedelta

from helpers import connect_env, kt_hard_delete, raw_rows, run

from handoff.sim import clock

QUARTER = timedelta(minutes=15)


def test_hubspot_archived_listing_waits_for_the_sweep(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    first = run("hubspot", "contacts", warehouse_url, reconcile_every=QUARTER)
    archived = [r["id"] for r in sims.world.hs["contacts"].values() if r["archived"]]
    assert first.swept and archived
    assert all(raw_rows(warehouse_url, "hubspot", "contacts")[i][1] for i in archived)
    w = sims.world
    rid = next(r["id"] for r in w.hs["contacts"].values() if not r["archived"])
    with w.lock:
        w.hs["contacts"].put(rid, dict(w.hs["contacts"].rows[rid], archived=True,
                                       archivedAt=clock.hs_datetime(w.now)))
        w.version += 1

    quiet = run("hubspot", "contacts", warehouse_url, reconcile_every=QUARTER)
    assert not quiet.swept and quiet.requests == 1  # one search page, no archived listing
    assert raw_rows(warehouse_url, "hubspot", "contacts")[rid][1] is False  # not seen yet

    swept = run("hubspot", "contacts", warehouse_url, reconcile_every=timedelta(0))
    assert swept.swept and swept.deletes == 1 and swept.changed == 1
    assert raw_rows(warehouse_url, "hubspot", "contacts")[rid][1] is True


def test_kantata_reconciliation_waits_for_the_sweep_and_diffs_in_postgres(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    first = run("kantata", "time_entries", warehouse_url, reconcile_every=QUARTER)
    assert first.swept  # a first load marks the stream reconciled without listing
    held = raw_rows(warehouse_url, "kantata", "time_entries")
    gone = sorted(held)[len(held) // 2]
    kt_hard_delete(sims, gone)

    quiet = run("kantata", "time_entries", warehouse_url, reconcile_every=QUARTER)
    assert not quiet.swept and quiet.requests <= 2 and quiet.deletes == 0
    assert raw_rows(warehouse_url, "kantata", "time_entries")[gone][1] is False

    swept = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(0))
    pages = -(-len(held) // 200)
    assert swept.swept and swept.deletes == 1
    # the id listing, one `only=` confirmation, and the incremental read: nothing per held row
    assert swept.requests <= pages + 1 + 2
    rows = raw_rows(warehouse_url, "kantata", "time_entries")
    assert rows[gone][1] is True and sum(d for _, d in rows.values()) == 1

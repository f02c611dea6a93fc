"""Deleted, then brought back: HubSpot archive then restore, Salesforce delete then undelete."""

from __future__ import annotations

from helpers import assert_matches_truth, connect_env, raw_rows, run

from handoff.sim import clock


def test_hubspot_archived_then_restored(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("hubspot", "contacts", warehouse_url)
    w = sims.world
    rid = next(r["id"] for r in w.hs["contacts"].values() if not r["archived"])
    with w.lock:
        rec = w.hs["contacts"].rows[rid]
        w.hs["contacts"].put(rid, dict(rec, archived=True, archivedAt=clock.hs_datetime(w.now)))
        w.version += 1
    run("hubspot", "contacts", warehouse_url)
    assert raw_rows(warehouse_url, "hubspot", "contacts")[rid][1] is True
    with w.lock:  # restored: live again, with a new modification time
        rec = w.hs_touch("contacts", rid, w.now + 60)
        w.hs["contacts"].put(rid, {k: v for k, v in rec.items() if k != "archivedAt"} | {"archived": False})
        w.version += 1
    run("hubspot", "contacts", warehouse_url)
    assert raw_rows(warehouse_url, "hubspot", "contacts")[rid][1] is False
    assert_matches_truth(sims, warehouse_url, "hubspot", "contacts")


def test_salesforce_deleted_then_undeleted(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("salesforce", "Account", warehouse_url)
    w = sims.world
    rid = next(r["Id"] for r in w.sf["Account"].values() if not r.get("IsDeleted"))
    with w.lock:
        w.sf_touch("Account", rid, w.now, IsDeleted=True)
        w.sf_deleted["Account"][rid] = w.now
        w.version += 1
    run("salesforce", "Account", warehouse_url)
    assert raw_rows(warehouse_url, "salesforce", "Account")[rid][1] is True
    with w.lock:
        w.sf_touch("Account", rid, w.now + 60, IsDeleted=False)
        w.sf_deleted["Account"].pop(rid, None)
        w.version += 1
    run("salesforce", "Account", warehouse_url)
    assert raw_rows(warehouse_url, "salesforce", "Account")[rid][1] is False
    assert_matches_truth(sims, warehouse_url, "salesforce", "Account")

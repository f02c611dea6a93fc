"""Cross-references the identity resolution needs arrive in the raw payloads: Kantata workspaces and
users carry their external references, HubSpot deals their company and line items their deal."""

from __future__ import annotations

from helpers import assert_matches_truth, connect_env, live, run


def test_kantata_external_references_are_inlined(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    refs = sims.world.kt["external_references"].rows
    for stream in ("workspaces", "users"):
        assert run("kantata", stream, warehouse_url).rejects == 0
        assert_matches_truth(sims, warehouse_url, "kantata", stream)
        rows = live(warehouse_url, "kantata", stream)
        assert rows
        for rec in rows.values():
            assert rec["external_references"] == [refs[i] for i in rec["external_reference_ids"]]
    users = live(warehouse_url, "kantata", "users")
    for wk in sims.world.workers:
        ref = users[wk["_kt_user"]]["external_references"][0]
        assert (ref["service_name"], ref["service_model_ref"]) == ("workday", wk["Worker_ID"])
    # every project's workspace names its CRM deal
    for p in sims.world.projects:
        ref = live(warehouse_url, "kantata", "workspaces")[p["ws_id"]]["external_references"][0]
        assert (ref["service_name"], ref["service_model_ref"]) == (p["source"], p["deal_id"])


def test_hubspot_associations_are_inlined(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    hs = sims.world.hs
    for stream, other, field in (("deals", "companies", "_company"), ("line_items", "deals", "_deal")):
        r = run("hubspot", stream, warehouse_url)
        assert r.rejects == 0
        assert_matches_truth(sims, warehouse_url, "hubspot", stream)
        rows = live(warehouse_url, "hubspot", stream)
        assert rows
        kind = {"deals": "deal_to_company", "line_items": "line_item_to_deal"}[stream]
        for rid, rec in rows.items():
            assert rec["associations"][other]["results"] == [{"id": hs[stream].rows[rid][field], "type": kind}]
    # incremental runs (new deals from the clock) carry them too
    sims.advance(24 * 14)
    r = run("hubspot", "deals", warehouse_url)
    assert r.mode == "incremental"
    rows = live(warehouse_url, "hubspot", "deals")
    assert len(rows) == sum(1 for d in hs["deals"].values() if not d["archived"])
    assert all(rec["associations"]["companies"]["results"][0]["id"] == hs["deals"].rows[rid]["_company"]
               for rid, rec in rows.items())

"""The NetSuite reference and finance streams (currencies, exchange rates, service items, payment
applications, billing events) land in raw equal to the simulator's truth, first and incrementally."""

from __future__ import annotations

from helpers import assert_matches_truth, connect_env, live, run

STREAMS = ("currency", "currencyrate", "item", "job", "invoice", "customer_payment", "payment_application",
           "billing_event")


def _post_billing_event(sims) -> None:
    import requests

    from handoff.sim.firm import NS_CURRENCY_ID

    creds = sims.credentials
    base = sims.url("netsuite")
    token = requests.post(base + "/services/rest/auth/oauth2/v1/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": creds.client_id,
        "client_secret": creds.client_secret}).json()["access_token"]
    job = next(j for j in sims.world.ns["job"].values() if j["entitystatus"] != "Closed")
    code = {v: k for k, v in NS_CURRENCY_ID.items()}[job["currency"]]
    r = requests.post(base + "/services/rest/record/v1/customrecord_handoff_billing_event", timeout=10,
                      headers={"Authorization": f"Bearer {token}"},
                      json={"custrecord_hbe_job": {"id": str(job["id"])}, "custrecord_hbe_milestone": "40004",
                            "custrecord_hbe_amount": 1500, "custrecord_hbe_currency": code,
                            "custrecord_hbe_date": sims.now().date().isoformat(), "externalId": "be-1"})
    assert r.status_code == 204, r.text


def test_finance_streams_land_and_follow_the_clock(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    sims.advance(24 * 3)  # a few payments (the first at tick 2 for seed 7)
    for stream in STREAMS:
        r = run("netsuite", stream, warehouse_url)
        assert r.rejects == 0, stream
        assert_matches_truth(sims, warehouse_url, "netsuite", stream)
    links = live(warehouse_url, "netsuite", "payment_application")
    invoices = live(warehouse_url, "netsuite", "invoice")
    payments = live(warehouse_url, "netsuite", "customer_payment")
    assert links
    for key, ln in links.items():
        assert key == f"{ln['previousdoc']}:{ln['previousline']}:{ln['nextdoc']}:{ln['nextline']}"
        inv, pay = invoices[ln["previousdoc"]], payments[ln["nextdoc"]]
        assert inv["status"] == "B" and inv["foreignamountremaining"] == "0.00" and inv["closedate"] == pay["trandate"]
    assert all(v["custentity_handoff_service_item"] in live(warehouse_url, "netsuite", "item")
               for v in live(warehouse_url, "netsuite", "job").values())
    rates = len(live(warehouse_url, "netsuite", "currencyrate"))
    # a week on: next Monday's rates, more payments, a billing event from the reverse sync
    sims.advance(24 * 7)
    _post_billing_event(sims)
    for stream in ("currencyrate", "invoice", "customer_payment", "payment_application", "billing_event"):
        r = run("netsuite", stream, warehouse_url)
        assert r.mode == "incremental" and r.rejects == 0, stream
        assert_matches_truth(sims, warehouse_url, "netsuite", stream)
    assert len(live(warehouse_url, "netsuite", "currencyrate")) == rates + 2
    assert [b["externalid"] for b in live(warehouse_url, "netsuite", "billing_event").values()] == ["be-1"]


def test_workers_carry_capacity(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    assert run("workday", "workers", warehouse_url).rejects == 0
    workers = live(warehouse_url, "workday", "workers")
    assert {(w["Scheduled_Weekly_Hours"], w["FTE"]) for w in workers.values()} == {("40", "1.0"), ("20", "0.5")}

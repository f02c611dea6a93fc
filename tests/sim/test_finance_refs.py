"""Reference data the dbt layer needs: Workday capacity (hours, FTE), NetSuite currencies and
effective-dated exchange rates, service items on jobs and timeBills, invoices' open amounts and
the payments applied to them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from handoff.sim import clock
from handoff.sim.firm import FX_USD, NS_CURRENCY_ID
from handoff.sim.world import World

TB = "/services/rest/record/v1/timeBill"
Q = "/services/rest/query/v1/suiteql"


def _q(s, c, q):
    r = s.post(c.url("netsuite") + Q, json={"q": q}, params={"limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_workers_have_hours_and_fte(cluster, clients):
    s = clients.session("workday")
    entries = s.get(cluster.url("workday") + "/ccx/service/customreport2/t/o/Handoff_Workers",
                    params={"format": "json"}).json()["Report_Entry"]
    hours = {e["Worker_ID"]: e["Scheduled_Weekly_Hours"] for e in entries}
    assert set(hours.values()) >= {"40"} and any(h != "40" for h in hours.values())  # a part-timer in tiny
    for e in entries:
        assert Decimal(e["FTE"]) == Decimal(e["Scheduled_Weekly_Hours"]) / 40
        assert e["FTE"] in ("1.0", "0.5", "0.6", "0.75", "0.8")
    # deterministic per worker
    again = World(7, "tiny")
    assert [(w["Scheduled_Weekly_Hours"], w["FTE"]) for w in again.workers] == \
        [(w["Scheduled_Weekly_Hours"], w["FTE"]) for w in cluster.world.workers]


def test_currencies_and_rates(cluster, clients):
    s = clients.session("netsuite")
    cur = {i["id"]: i for i in _q(s, cluster, "SELECT * FROM currency")}
    assert {k: v["symbol"] for k, v in cur.items()} == {str(v): k for k, v in NS_CURRENCY_ID.items()}
    assert [k for k, v in cur.items() if v["isbasecurrency"] == "T"] == ["1"]
    # every currency the other tables use is in `currency`
    for table in ("subsidiary", "customer", "job", "transaction"):
        assert {i["currency"] for i in _q(s, cluster, f"SELECT id, currency FROM {table}")} <= set(cur)
    rates = _q(s, cluster, "SELECT id, basecurrency, transactioncurrency, exchangerate, "
                           "TO_CHAR(effectivedate, 'YYYY-MM-DD') AS effective, "
                           "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS entered FROM currencyrate")
    assert {r["basecurrency"] for r in rates} == {"1"}
    assert {r["transactioncurrency"] for r in rates} == {"2", "4"}
    hist_start = clock.to_dt(cluster.world.hist_start).date()
    for tc, code in (("2", "GBP"), ("4", "EUR")):
        mine = sorted((r for r in rates if r["transactioncurrency"] == tc), key=lambda r: r["effective"])
        days = [dt.date.fromisoformat(r["effective"]) for r in mine]
        assert all(d.weekday() == 0 for d in days) and all(b - a == dt.timedelta(7) for a, b in zip(days, days[1:], strict=False))
        assert days[0] < hist_start and days[-1] == dt.date(2026, 3, 2)  # covers the history up to now
        # 1 transaction currency = exchangerate USD, near the reference FX of the firm's rate cards
        assert all(abs(float(r["exchangerate"]) / FX_USD[code] - 1) < 0.03 for r in mine)
        assert all(r["entered"] < r["effective"] + " 00:00:00" for r in mine)  # entered before it applies


def test_clock_adds_next_weeks_rates():
    w = World(7, "tiny")
    before = len(w.ns["currencyrate"])
    w.advance(24 * 6 + 17)  # Sunday 17:00: not yet
    assert len(w.ns["currencyrate"]) == before
    w.advance(1)  # Sunday 18:00: next Monday's rates
    new = w.ns["currencyrate"].values()[before:]
    assert [(r["transactioncurrency"], clock.day_iso(r["effectivedate"])) for r in new] == \
        [(2, "2026-03-09"), (4, "2026-03-09")]
    assert all(r["lastmodifieddate"] == w.now for r in new)


def test_service_items_on_jobs(cluster, clients):
    s = clients.session("netsuite")
    items = {i["id"]: i for i in _q(s, cluster, "SELECT * FROM item")}
    assert {i["itemid"] for i in items.values() if i["isinactive"] == "F"} == {"SVC-IMPL", "SVC-ADV", "SVC-TRN",
                                                                               "SVC-MS"}
    assert all(i["itemtype"] == "Service" for i in items.values())
    jobs = _q(s, cluster, "SELECT id, custentity_handoff_service_item FROM job")
    assert jobs and all(items[j["custentity_handoff_service_item"]]["isinactive"] == "F" for j in jobs)
    # the job's item is its deal's first service line
    w = cluster.world
    for p in w.projects:
        job = w.ns["job"].rows[p["job_id"]]
        code = items[str(job["custentity_handoff_service_item"])]["itemid"]
        if p["source"] == "salesforce":
            lines = [li for li in w.sf["OpportunityLineItem"].values() if li["OpportunityId"] == p["deal_id"]]
            assert code == min(lines, key=lambda li: li["Id"])["ProductCode"]
        else:
            lines = [li for li in w.hs["line_items"].values() if li["_deal"] == p["deal_id"]]
            assert code == min(lines, key=lambda li: int(li["id"]))["properties"]["hs_sku"]


def test_timebill_item(fresh):
    c, cl = fresh
    s = cl.session("netsuite")
    ns = c.world.ns
    emp = next(iter(ns["employee"].values()))
    job = next(j for j in ns["job"].values() if j["entitystatus"] != "Closed")
    ok = {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])}, "tranDate": "2026-03-02",
          "hours": 2}
    r = s.post(c.url("netsuite") + TB, json={**ok, "item": {"id": str(job["custentity_handoff_service_item"])}})
    assert r.status_code == 204, r.text
    r = s.post(c.url("netsuite") + TB, json=ok)  # without an item, as before
    assert r.status_code == 204, r.text
    for bad in ("99999", "105"):  # unknown, inactive
        r = s.post(c.url("netsuite") + TB, json={**ok, "item": {"id": bad}})
        d = r.json()["o:errorDetails"][0]
        assert r.status_code == 400 and (d["o:errorCode"], d["o:errorPath"]) == ("INVALID_KEY_OR_REF", "item")
    rows = _q(s, c, "SELECT id, item FROM timebill ORDER BY id")
    assert [r.get("item") for r in rows] == [str(job["custentity_handoff_service_item"]), None]
    assert len(c.ledger()) == 2


def test_invoice_open_amounts_and_payment_links():
    w = World(7, "tiny")
    w.advance(24 * 10)
    tx = w.ns["transaction"].rows
    links = w.ns["nexttransactionlinelink"].values()
    assert links
    paid = set()
    for ln in links:
        inv, pay = tx[ln["previousdoc"]], tx[ln["nextdoc"]]
        assert (inv["type"], pay["type"], ln["linktype"]) == ("CustInvc", "CustPymt", "Payment")
        assert ln["foreignamount"] == inv["foreigntotal"] == pay["foreigntotal"]
        assert inv["status"] == "B" and inv["foreignamountremaining"] == "0.00"
        assert inv["closedate"] == pay["trandate"] and pay["currency"] == inv["currency"]
        paid.add(inv["id"])
    for inv in (t for t in tx.values() if t["type"] == "CustInvc" and t["id"] not in paid):
        assert inv["status"] == "A" and inv["foreignamountremaining"] == inv["foreigntotal"]
        assert inv["closedate"] is None
    assert sum(1 for t in tx.values() if t["type"] == "CustPymt") == len(links)


def test_payment_links_over_suiteql(fresh):
    c, cl = fresh
    c.advance(24 * 10)
    s = cl.session("netsuite")
    items = _q(s, c, "SELECT * FROM nexttransactionlinelink WHERE linktype = 'Payment' "
                     "ORDER BY lastmodifieddate, previousdoc, nextdoc")
    assert items and set(items[0]) == {"links", "previousdoc", "previousline", "previoustype", "nextdoc",
                                       "nextline", "nexttype", "linktype", "foreignamount", "lastmodifieddate"}
    truth = c.truth("netsuite", "nexttransactionlinelink")["records"]
    assert len(truth) == len(items)

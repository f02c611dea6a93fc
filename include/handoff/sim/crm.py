"""CRM records: the Salesforce and HubSpot record shapes, and new opportunities and deals.

The first world (history.py) fills the CRMs with them; the clock (ticks.py) adds new ones later.
"""

from __future__ import annotations

from functools import lru_cache

from . import clock
from .clock import DAY, day_iso
from .firm import FIRST, HS_STAGES, LAST, SERVICES, SF_STAGES
from .ids import sf_id

CONTACT_TITLES = ["CIO", "CFO", "Head of Data", "VP Operations", "Procurement Lead"]
# Contacts whose text needs care in a CSV (Bulk API 2.0 results) or any encoding: embedded
# newlines (LF and CRLF), double quotes, commas, non-ASCII letters. Every TRICKY_EVERY-th contact
# gets one, at every scale (no random draw, so the rest of the world is unchanged).
TRICKY_EVERY = 37
TRICKY_CONTACTS = [
    ("Zoë", "Ångström", 'Head of Data, "Platform" & Analytics'),
    ("José", "Müller-Lüdenscheidt", "Directrice générale\nZürich office"),
    ("Siobhán", "O'Brien", 'VP, Sales\r\n"EMEA", UK & Ireland'),
    ("Łukasz", "Żółkiewski", "営業部長 (Sales Director), 東京"),
    ("Renée", "Dubois", '"Quoted" title\n\nwith a blank line, and a trailing quote"'),
]


@lru_cache(maxsize=4096)
def _sf_stamp(ts: int) -> str:
    """One shared string per timestamp: most records of a large world carry the migration's."""
    return clock.sf_datetime(ts)


def sf_record(obj, n, created, modified=None, **fields):
    stamp = _sf_stamp(modified or created)
    rec = {"Id": sf_id(obj, n), **fields, "CreatedDate": _sf_stamp(created), "LastModifiedDate": stamp,
           "SystemModstamp": stamp}
    if obj != "User":
        rec["IsDeleted"] = False
    return rec


@lru_cache(maxsize=4096)
def _full_name(first: str, last: str) -> str:
    return f"{first} {last}"


def sf_contact(w, rnd, cn: int, acc: dict, t0: int) -> dict:
    """Contact number `cn` of account `acc`, created by the data migration at `t0`; one in ten
    edited since. Every TRICKY_EVERY-th one has a name and title that need quoting in a CSV."""
    f, la = rnd.choice(FIRST), rnd.choice(LAST)
    modified = t0 + rnd.randrange(DAY, w.scale.history_days * DAY) if rnd.random() < 0.1 else None
    title = rnd.choice(CONTACT_TITLES)
    email_first = f.lower()
    if cn % TRICKY_EVERY == 5:
        f, la, title = TRICKY_CONTACTS[(cn // TRICKY_EVERY) % len(TRICKY_CONTACTS)]
    domain = acc["Name"].split()[0].lower()
    rec = sf_record("Contact", cn, t0, modified, AccountId=acc["Id"], FirstName=f, LastName=la,
                    Name=_full_name(f, la), Email=f"{email_first}.{cn}@{domain}.example", Title=title,
                    CurrencyIsoCode=acc["CurrencyIsoCode"], OwnerId=acc["OwnerId"])
    return w.sf["Contact"].put(rec["Id"], rec)


def sf_opportunity(w, rnd, on, acc, created) -> dict:
    """Opportunity number `on` of account `acc`, with its line items, at a random stage."""
    stage_i = rnd.choices(range(6), weights=[1, 1, 1, 1, 4, 2])[0]
    stage, prob = SF_STAGES[stage_i]
    closed = stage_i >= 4
    close_day = created // DAY + rnd.randrange(20, 90)
    modified = min(close_day * DAY + 15 * 3600, w.now - 3600) if closed else created + rnd.randrange(1, 20) * DAY
    modified = min(max(modified, created), w.now - 60)
    amount = 0
    opp = sf_record("Opportunity", on, created, modified, AccountId=acc["Id"],
                    Name=f"{acc['Name']} - {rnd.choice(['Data Platform', 'Cloud Migration', 'CRM Rollout', 'Strategy Review'])}"
                         f" {on}", StageName=stage, Probability=prob, IsClosed=closed, IsWon=stage == "Closed Won",
                    CloseDate=day_iso(close_day), Amount=None, CurrencyIsoCode=acc["CurrencyIsoCode"],
                    Type="New Business", OwnerId=acc["OwnerId"])
    for k in range(rnd.randrange(1, 4)):
        ln = w.next_id("sf_oli", 1)
        svc = SERVICES[(on + k) % len(SERVICES)]
        qty = rnd.randrange(10, 120)
        price = rnd.choice([1200, 1500, 1800, 2200])
        amount += qty * price
        w.sf["OpportunityLineItem"].put(sf_id("OpportunityLineItem", ln), sf_record(
            "OpportunityLineItem", ln, created, modified, OpportunityId=opp["Id"], Name=f"{opp['Name']} {svc[0]}",
            ProductCode=svc[1], Quantity=float(qty), UnitPrice=float(price), TotalPrice=float(qty * price),
            ServiceDate=opp["CloseDate"], CurrencyIsoCode=opp["CurrencyIsoCode"]))
    w.deal_service[opp["Id"]] = SERVICES[on % len(SERVICES)][1]  # the first line's service
    opp["Amount"] = float(amount)
    return w.sf["Opportunity"].put(opp["Id"], opp)


def hs_object(rid, created, modified, props, obj):
    c, m = clock.hs_datetime(created), clock.hs_datetime(modified)
    props = {k: None if v is None else str(v) for k, v in props.items()}
    props.update({"createdate": c, "hs_object_id": str(rid), "hs_lastmodifieddate": m})
    if obj == "contacts":
        props["lastmodifieddate"] = m
    return {"id": str(rid), "properties": props, "createdAt": c, "updatedAt": m, "archived": False}


def hs_deal(w, rnd, company_id, created):
    """A deal of a HubSpot company, with its line items, at a random stage."""
    rid = w.next_id("hs_deal", 9000)
    stage = rnd.choices(HS_STAGES, weights=[1, 1, 1, 1, 1, 4, 2])[0]
    closed = stage in ("closedwon", "closedlost")
    close_day = created // DAY + rnd.randrange(20, 90)
    modified = min(max(close_day * DAY + 14 * 3600 if closed else created + DAY, created), w.now - 60)
    company = w.hs["companies"].rows[company_id]
    cur = company["properties"]["hs_currency"]
    amount = 0
    for k in range(rnd.randrange(1, 3)):
        lid = w.next_id("hs_line", 50000)
        qty, price = rnd.randrange(5, 80), rnd.choice([900, 1100, 1400])
        amount += qty * price
        li = hs_object(lid, created, modified, {"name": SERVICES[(rid + k) % 4][0], "quantity": qty,
                                                "price": f"{price:.2f}", "amount": f"{qty * price:.2f}",
                                                "hs_line_item_currency_code": cur, "hs_sku": SERVICES[(rid + k) % 4][1]},
                       "line_items")
        li["_deal"] = str(rid)
        w.hs["line_items"].put(str(lid), li)
    deal = hs_object(rid, created, modified, {
        "dealname": f"{company['properties']['name']} engagement {rid}", "dealstage": stage, "pipeline": "default",
        "amount": f"{amount:.2f}", "deal_currency_code": cur, "closedate": clock.hs_datetime(close_day * DAY + 12 * 3600),
        "hs_is_closed_won": str(stage == "closedwon").lower()}, "deals")
    deal["_company"] = company_id
    w.deal_service[str(rid)] = SERVICES[rid % 4][1]  # the first line's service
    return w.hs["deals"].put(str(rid), deal)

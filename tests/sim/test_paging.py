"""Every system's paging style returns every record exactly once, ties across page boundaries included."""

from __future__ import annotations

from collections import Counter

from .conftest import KT_ALL


def _crosses_boundary(stamps: list, page: int) -> bool:
    """True if some page boundary splits a group of records sharing one modification stamp."""
    return any(stamps[i - 1] == stamps[i] for i in range(page, len(stamps), page))


def test_kantata_time_entries_walk(clients, cluster):
    s = clients.session("kantata")
    url = f"{cluster.url('kantata')}/api/v1/time_entries.json"
    ids, stamps, page = [], [], 1
    while True:
        body = s.get(url, params={"order": "updated_at:asc", "per_page": 20, "page": page,
                                  **KT_ALL["time_entries"]}).json()
        if not body["results"]:
            break
        for r in body["results"]:  # read in `results` order, not map order
            ids.append(r["id"])
            stamps.append(body["time_entries"][r["id"]]["updated_at"])
        page += 1
    assert page - 1 == body["meta"]["page_count"]
    truth = cluster.truth("kantata", "time_entries")
    assert Counter(ids) == Counter(r["id"] for r in truth["records"])
    assert stamps == sorted(stamps)
    assert _crosses_boundary(stamps, 20)
    assert not set(ids) & set(truth["deleted_ids"])
    assert set(cluster.cases()["deleted_time_entries"]) <= set(truth["deleted_ids"])


def test_kantata_tie_larger_than_a_max_page(clients, cluster):
    """The catch-up approval (> 200 entries at one updated_at) straddles per_page=200 boundaries."""
    s = clients.session("kantata")
    url = f"{cluster.url('kantata')}/api/v1/time_entries.json"
    tie = cluster.cases()["modstamp_ties"]["kantata.time_entries"]
    ids, stamps, page = [], [], 1
    while True:
        body = s.get(url, params={"order": "updated_at:asc", "per_page": 200, "page": page,
                                  **KT_ALL["time_entries"]}).json()
        if not body["results"]:
            break
        ids += [r["id"] for r in body["results"]]
        stamps += [body["time_entries"][r["id"]]["updated_at"] for r in body["results"]]
        page += 1
    assert stamps.count(tie) > 200 and _crosses_boundary(stamps, 200)
    assert Counter(ids) == Counter(r["id"] for r in cluster.truth("kantata", "time_entries")["records"])
    tied = [int(i) for i, st in zip(ids, stamps, strict=True) if st == tie]
    assert tied == sorted(tied)  # ties break on id ascending
    desc = s.get(url, params={"order": "updated_at:desc", "per_page": 200}).json()
    got = [(desc["time_entries"][r["id"]]["updated_at"], -int(r["id"])) for r in desc["results"]]
    assert got == sorted(got, reverse=True)


def test_kantata_incremental_updated_after(clients, cluster):
    s = clients.session("kantata")
    url = f"{cluster.url('kantata')}/api/v1/time_entries.json"
    tie = cluster.cases()["modstamp_ties"]["kantata.time_entries"]
    body = s.get(url, params={"updated_after": tie, "order": "updated_at:asc", "per_page": 200,
                              **KT_ALL["time_entries"]}).json()
    assert all(r["updated_at"] > tie for r in body["time_entries"].values())
    truth = [r for r in cluster.truth("kantata", "time_entries")["records"] if r["updated_at"] > tie]
    assert body["count"] == len(truth)


def test_kantata_small_tables_walk(clients, cluster):
    s = clients.session("kantata")
    for kind in ("workspaces", "stories", "users", "expenses"):
        ids, page = [], 1
        while True:
            body = s.get(f"{cluster.url('kantata')}/api/v1/{kind}.json",
                         params={"order": "updated_at:asc", "per_page": 7, "page": page, **KT_ALL[kind]}).json()
            if not body["results"]:
                break
            ids += [r["id"] for r in body["results"]]
            page += 1
        assert Counter(ids) == Counter(r["id"] for r in cluster.truth("kantata", kind)["records"]), kind


def _sf_walk(s, base, soql, batch=200, all_rows=False):
    r = s.get(f"{base}/services/data/v62.0/{'queryAll' if all_rows else 'query'}", params={"q": soql},
              headers={"Sforce-Query-Options": f"batchSize={batch}"}).json()
    records, batches = list(r["records"]), [len(r["records"])]
    while not r["done"]:
        r = s.get(base + r["nextRecordsUrl"]).json()
        records += r["records"]
        batches.append(len(r["records"]))
    return records, batches


def test_salesforce_contacts_walk_with_tie_at_batch_boundary(clients, cluster):
    s = clients.session("salesforce")
    base = cluster.url("salesforce")
    recs, batches = _sf_walk(s, base, "SELECT Id, Name, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id")
    assert batches[0] == 200 and len(batches) > 1
    truth = cluster.truth("salesforce", "Contact")
    assert Counter(r["Id"] for r in recs) == Counter(r["Id"] for r in truth["records"])
    stamps = [r["SystemModstamp"] for r in recs]
    assert _crosses_boundary(stamps, 200)
    assert all(r["attributes"]["type"] == "Contact" for r in recs)
    all_recs, _ = _sf_walk(s, base, "SELECT Id, IsDeleted FROM Contact", all_rows=True)
    deleted = {r["Id"] for r in all_recs if r["IsDeleted"]}
    assert deleted == set(truth["deleted_ids"]) and deleted


def test_salesforce_where_and_locator_snapshot(clients, cluster, fresh):
    c, cl = fresh
    s = cl.session("salesforce")
    base = c.url("salesforce")
    since = "2026-01-01T00:00:00Z"
    q = f"SELECT Id, SystemModstamp FROM Opportunity WHERE SystemModstamp > {since} ORDER BY SystemModstamp, Id"
    first = s.get(f"{base}/services/data/v61.0/query", params={"q": q}).json()
    assert all(r["SystemModstamp"] > "2026-01-01T00:00:00.000+0000" for r in first["records"])
    assert first["totalSize"] == len(first["records"])
    # locators are snapshots: a walk started before the world moves is unaffected
    recs = s.get(f"{base}/services/data/v62.0/query", params={"q": "SELECT Id FROM Contact"},
                 headers={"Sforce-Query-Options": "batchSize=200"}).json()
    c.advance(48)
    rest = s.get(base + recs["nextRecordsUrl"]).json()
    assert recs["totalSize"] == rest["totalSize"]
    bad = s.get(f"{base}/services/data/v62.0/query", params={"q": "SELECT Nope FROM Contact"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    bad = s.get(f"{base}/services/data/v62.0/query", params={"q": "SELEC Id FROM Contact"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_salesforce_deleted_endpoint(clients, cluster):
    s = clients.session("salesforce")
    now = cluster.now()
    r = s.get(f"{cluster.url('salesforce')}/services/data/v62.0/sobjects/Contact/deleted/",
              params={"start": "2026-02-15T00:00:00Z", "end": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    body = r.json()
    assert r.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert {d["id"] for d in body["deletedRecords"]} == set(cluster.truth("salesforce", "Contact")["deleted_ids"])
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(body)


def test_hubspot_list_walk(clients, cluster):
    s = clients.session("hubspot")
    for obj in ("companies", "contacts", "deals", "line_items"):
        ids, after = [], None
        while True:
            params = {"limit": 7, **({"after": after} if after else {})}
            body = s.get(f"{cluster.url('hubspot')}/crm/v3/objects/{obj}", params=params).json()
            ids += [r["id"] for r in body["results"]]
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        assert Counter(ids) == Counter(r["id"] for r in cluster.truth("hubspot", obj)["records"]), obj


def test_hubspot_search_walk_with_ties(clients, cluster):
    s = clients.session("hubspot")
    for obj, prop in (("companies", "hs_lastmodifieddate"), ("contacts", "lastmodifieddate")):
        ids, stamps, after = [], [], 0
        while True:
            body = s.post(f"{cluster.url('hubspot')}/crm/v3/objects/{obj}/search", json={
                "filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE", "value": "0"}]}],
                "sorts": [{"propertyName": prop, "direction": "ASCENDING"}], "properties": [prop],
                "limit": 5, "after": after}).json()
            ids += [r["id"] for r in body["results"]]
            stamps += [r["properties"][prop] for r in body["results"]]
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        assert Counter(ids) == Counter(r["id"] for r in cluster.truth("hubspot", obj)["records"]), obj
        assert body["total"] == len(ids)
        assert _crosses_boundary(stamps, 5)


def test_hubspot_contacts_hs_lastmodifieddate_finds_nothing(clients, cluster):
    body = clients.session("hubspot").post(f"{cluster.url('hubspot')}/crm/v3/objects/contacts/search", json={
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "0"}]}],
        "sorts": [], "properties": [], "limit": 10, "after": 0}).json()
    assert body["total"] == 0


def test_hubspot_search_cap(clients, cluster, fresh):
    s = clients.session("hubspot")
    url = f"{cluster.url('hubspot')}/crm/v3/objects/companies/search"
    body = {"filterGroups": [], "sorts": [], "properties": [], "limit": 100}
    r = s.post(url, json={**body, "after": 10000})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert s.post(url, json={**body, "after": 9950}).status_code == 200  # below the cap: a (short) page
    # a query matching more than the cap: pages stop at it, `total` counts every match
    c, cl = fresh
    c.servers["hubspot"].search_cap = 25
    url = f"{c.url('hubspot')}/crm/v3/objects/contacts/search"
    s = cl.session("hubspot")
    ids, after = [], 0
    while True:
        r = s.post(url, json={**body, "limit": 10, "after": after})
        if r.status_code == 400:
            break
        page = r.json()
        assert page["total"] == len(c.truth("hubspot", "contacts")["records"]) > 25
        ids += [x["id"] for x in page["results"]]
        after = int(page["paging"]["next"]["after"])
    assert len(ids) == 25 and after == 25 and r.json()["category"] == "VALIDATION_ERROR"


def test_netsuite_suiteql_walk_with_ties(clients, cluster):
    s = clients.session("netsuite")
    base = cluster.url("netsuite")
    q = ("SELECT id, lastmodifieddate, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lm "
         "FROM customer ORDER BY lastmodifieddate, id")
    items, url = [], f"{base}/services/rest/query/v1/suiteql?limit=2&offset=0"
    while True:
        body = s.post(url, json={"q": q}).json()
        items += body["items"]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not body["hasMore"]:
            assert not nxt
            break
        url = nxt[0]
    truth = cluster.truth("netsuite", "customer")
    assert Counter(i["id"] for i in items) == Counter(r["id"] for r in truth["records"])
    assert body["totalResults"] == len(items)
    assert _crosses_boundary([i["lm"] for i in items], 2)
    assert all("/" in i["lastmodifieddate"] and ":" not in i["lastmodifieddate"] for i in items)  # M/D/YYYY


def test_netsuite_suiteql_row_cap(fresh):
    """One query pages through at most max_rows (100,000) rows; offsets at or past it are a 400."""
    c, cl = fresh
    c.servers["netsuite"].max_rows = 5
    s = cl.session("netsuite")
    url = f"{c.url('netsuite')}/services/rest/query/v1/suiteql"
    q = {"q": "SELECT id FROM customer ORDER BY id"}
    assert len(c.truth("netsuite", "customer")["records"]) > 5
    first = s.post(url + "?limit=3&offset=0", json=q).json()
    assert first["hasMore"] and first["totalResults"] == 5 and first["count"] == 3
    last = s.post(url + "?limit=3&offset=3", json=q).json()
    assert not last["hasMore"] and last["count"] == 2 and not [x for x in last["links"] if x["rel"] == "next"]
    r = s.post(url + "?limit=3&offset=5", json=q)
    assert r.status_code == 400 and r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"


def test_netsuite_suiteql_filters(clients, cluster):
    s = clients.session("netsuite")
    url = f"{cluster.url('netsuite')}/services/rest/query/v1/suiteql"
    q = ("SELECT * FROM transaction WHERE type = 'CustInvc' AND lastmodifieddate >= "
         "TO_TIMESTAMP('2025-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') ORDER BY lastmodifieddate, id")
    body = s.post(url, json={"q": q}).json()
    assert all(i["type"] == "CustInvc" for i in body["items"]) and all(i["links"] == [] for i in body["items"])
    assert all("externalid" not in i for i in body["items"])  # null columns are omitted
    deleted = s.post(url, json={"q": "SELECT recordtype, recordid, deleteddate FROM DeletedRecord"}).json()
    assert deleted["count"] >= 1 and deleted["items"][0]["recordtype"] == "invoice"
    assert s.post(url + "?limit=1001", json={"q": "SELECT id FROM job"}).status_code == 400
    bad = s.post(url, json={"q": "SELECT nope FROM job"})
    assert bad.status_code == 400 and bad.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    no_prefer = s.post(url, json={"q": "SELECT id FROM job"}, headers={"Prefer": ""})
    assert no_prefer.status_code == 400


def test_workday_snapshot(clients, cluster):
    s = clients.session("workday")
    url = f"{cluster.url('workday')}/ccx/service/customreport2/acme/ISU_Handoff/Handoff_Workers"
    body = s.get(url, params={"format": "json"}).json()
    assert body["Report_Entry"] == cluster.truth("workday", "Handoff_Workers")["records"]
    w = body["Report_Entry"][0]
    assert {"Worker_ID", "Hire_Date", "Cost_Rates", "Company", "Practice", "Department"} <= set(w)
    early = s.get(url, params={"format": "json", "Effective_as_of_Date": "2025-01-01"}).json()["Report_Entry"]
    assert len(early) < len(body["Report_Entry"])  # the newest hire is not there yet
    assert s.get(url.replace("Handoff_Workers", "Nope"), params={"format": "json"}).status_code == 404

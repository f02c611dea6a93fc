"""NetSuite write path: validation, idempotency under concurrent retries, async jobs, the ledger."""

from __future__ import annotations

import threading

import requests

TB = "/services/rest/record/v1/timeBill"
BE = "/services/rest/record/v1/customrecord_handoff_billing_event"


def _ids(c):
    ns = c.world.ns
    emp = next(e for e in ns["employee"].values())
    job = next(j for j in ns["job"].values() if j["entitystatus"] != "Closed")
    return emp, job


def _detail(r):
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request"
    return body["o:errorDetails"][0]


def test_timebill_validation(fresh):
    c, cl = fresh
    s = cl.session("netsuite")
    emp, job = _ids(c)
    ok = {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])}, "tranDate": "2026-03-02",
          "hours": "7:30", "subsidiary": {"id": str(emp["subsidiary"])}}
    r = s.post(c.url("netsuite") + TB, json=ok)
    assert r.status_code == 204 and "/record/v1/timeBill/" in r.headers["Location"]
    cases = [({"employee": {"id": "99999"}}, "INVALID_KEY_OR_REF", "employee"),
             ({"customer": {"id": "1"}}, "INVALID_KEY_OR_REF", "customer"),
             ({"tranDate": "2025-10-15"}, "INVALID_FLD_VALUE", "tranDate"),  # closed period
             ({"subsidiary": {"id": str(emp["subsidiary"] % 3 + 1)}}, "INVALID_FLD_VALUE", "subsidiary"),
             ({"hours": None}, "USER_ERROR", "hours")]
    for change, code, path in cases:
        d = _detail(s.post(c.url("netsuite") + TB, json={**ok, **change}))
        assert (d["o:errorCode"], d["o:errorPath"]) == (code, path), change
    closed = c.cases()["time_on_closed_project"]["job_id"]
    d = _detail(s.post(c.url("netsuite") + TB, json={**ok, "customer": {"id": str(closed)}}))
    assert d["o:errorPath"] == "customer"
    missing = c.cases()["employee_missing_in_netsuite"][0]
    assert all(e["externalid"] != missing for e in c.world.ns["employee"].values())
    assert len(c.ledger()) == 1 and c.ledger()[0]["record_type"] == "timeBill"
    # accepted records are readable through SuiteQL
    body = s.post(c.url("netsuite") + "/services/rest/query/v1/suiteql",
                  json={"q": "SELECT id, hours, employee FROM timebill"}).json()
    assert body["items"][0]["hours"] == "7.50" and body["items"][0]["employee"] == str(emp["id"])


def test_billing_event_validation(fresh):
    c, cl = fresh
    s = cl.session("netsuite")
    _, job = _ids(c)
    cur = {1: "USD", 2: "GBP", 4: "EUR"}[job["currency"]]
    ok = {"custrecord_hbe_job": {"id": str(job["id"])}, "custrecord_hbe_milestone": "40004",
          "custrecord_hbe_amount": 1500.0, "custrecord_hbe_currency": cur, "custrecord_hbe_date": "2026-03-01",
          "externalId": "kantata-story-40004"}
    assert s.post(c.url("netsuite") + BE, json=ok).status_code == 204
    assert _detail(s.post(c.url("netsuite") + BE, json=ok))["o:errorCode"] == "DUP_RCRD"
    other = "EUR" if cur != "EUR" else "USD"
    d = _detail(s.post(c.url("netsuite") + BE, json={**ok, "externalId": "x", "custrecord_hbe_currency": other}))
    assert d["o:errorPath"] == "custrecord_hbe_currency"
    d = _detail(s.post(c.url("netsuite") + BE, json={**ok, "externalId": "y", "custrecord_hbe_job": {"id": "7"}}))
    assert d["o:errorCode"] == "INVALID_KEY_OR_REF"
    d = _detail(s.post(c.url("netsuite") + BE, json={**ok, "externalId": "z",
                                                     "subsidiary": {"id": str(job["subsidiary"] % 3 + 1)}}))
    assert d["o:errorPath"] == "subsidiary"
    assert [e["record_type"] for e in c.ledger()] == ["customrecord_handoff_billing_event"]


def test_idempotency_key_under_concurrent_retries(fresh):
    c, cl = fresh
    emp, job = _ids(c)
    token = cl.token("netsuite")
    body = {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])}, "tranDate": "2026-03-02",
            "hours": 2}
    results = []
    barrier = threading.Barrier(8)

    def post(i):
        barrier.wait()
        r = requests.post(c.url("netsuite") + TB, json=body, timeout=10,
                          headers={"Authorization": f"Bearer {token}", "X-NetSuite-Idempotency-Key": "key-1",
                                   **({"Prefer": "respond-async"} if i % 2 else {})})
        results.append(r)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(400) == 7 and statuses[0] in (202, 204)
    assert all(r.json()["o:errorDetails"][0]["o:errorCode"] == "IDEMPOTENCY_ERROR"
               for r in results if r.status_code == 400)
    assert len(c.ledger()) == 1 and c.ledger()[0]["idempotency_key"] == "key-1"
    assert len(c.world.ns["timebill"]) == 1


def test_async_job_flow(fresh):
    c, cl = fresh
    s = cl.session("netsuite")
    emp, job = _ids(c)
    r = s.post(c.url("netsuite") + TB, headers={"Prefer": "respond-async", "X-NetSuite-Idempotency-Key": "k2"},
               json={"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])},
                     "tranDate": "2026-03-02", "hours": 1})
    assert r.status_code == 202
    job_url = r.headers["Location"]
    assert "/services/rest/async/v1/job/" in job_url
    status = s.get(job_url).json()
    assert status["completed"] and status["progress"] == "succeeded"
    result = s.get(status["task"]["links"][0]["href"] + "/result")
    assert result.status_code == 204 and "timeBill" in result.headers["Location"]
    # the documented walk: job -> task collection -> task -> result
    tasks = s.get(job_url + "/task").json()
    assert tasks["count"] == 1 and not tasks["hasMore"]
    task = s.get(tasks["items"][0]["links"][0]["href"]).json()
    assert task["completed"] and task["progress"] == "succeeded"
    related = next(x["href"] for x in task["links"] if x["rel"] == "related")
    assert s.get(related).status_code == 204
    again = s.post(c.url("netsuite") + TB, headers={"X-NetSuite-Idempotency-Key": "k2"}, json={})
    assert _detail(again)["o:errorCode"] == "IDEMPOTENCY_ERROR"
    assert requests.get(c.url("netsuite") + "/__sim/ledger").json()["ledger"] == c.ledger()


def test_concurrency_limit(fresh):
    c, cl = fresh
    token = cl.token("netsuite")
    c.set_faults("netsuite", {"concurrency_limit": 2, "slow": 1.0, "slow_seconds": 0.5})
    codes = []
    barrier = threading.Barrier(5)

    def get():
        barrier.wait()
        codes.append(requests.get(c.url("netsuite") + "/services/rest/record/v1/job/5000", timeout=10,
                                  headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=get) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(429) >= 1 and codes.count(200) >= 1


def _jwt(claims: dict) -> str:
    import base64
    import json

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'PS256', 'typ': 'JWT', 'kid': 'cert-1'})}.{part(claims)}.c2lnbmF0dXJl"


def test_token_with_jwt_assertion(fresh):
    """The real M2M flow: a JWT client assertion whose iss is the client id (signature not checked)."""
    import time

    from .conftest import CREDS
    c, _ = fresh
    url = c.url("netsuite") + "/services/rest/auth/oauth2/v1/token"
    jwt_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    def token(claims, assertion_type=jwt_type):
        return requests.post(url, data={"grant_type": "client_credentials", "client_assertion_type": assertion_type,
                                        "client_assertion": _jwt(claims)}, timeout=10)

    now = int(time.time())
    ok = token({"iss": CREDS.client_id, "scope": ["restlets", "rest_webservices"], "aud": url, "iat": now,
                "exp": now + 3600})
    assert ok.status_code == 200 and ok.json()["token_type"] == "bearer"
    assert requests.get(c.url("netsuite") + "/services/rest/record/v1/job/5000", timeout=10,
                        headers={"Authorization": f"Bearer {ok.json()['access_token']}"}).status_code == 200
    assert token({"iss": "someone-else", "exp": now + 3600}).json()["error"] == "invalid_client"
    assert token({"iss": CREDS.client_id, "exp": now - 10}).status_code == 400
    assert token({"iss": CREDS.client_id}, "password").status_code == 400


# ---- updates, deletes, upserts, refusals (the reverse sync's verbs) ---------------------------
SQL = "/services/rest/query/v1/suiteql"


def _entry(c, ext, day="2026-03-03", hours=2):
    emp, job = _ids(c)
    return {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])}, "tranDate": day,
            "hours": hours, "externalId": ext}


def _rid(r):
    assert r.status_code == 204, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def _suiteql(s, c, q):
    return s.post(c.url("netsuite") + SQL, json={"q": q}).json()["items"]


def test_patch_validates_and_the_extract_sees_the_change(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    rid = _rid(s.post(url + TB, json=_entry(c, "kantata-te-1:v1")))
    c.advance(1)  # world time moves: the update's lastmodifieddate is later than the create's
    r = s.patch(f"{url}{TB}/{rid}", json={"hours": "3:30", "memo": "corrected"},
                headers={"X-NetSuite-Idempotency-Key": "te-1:v2"})
    assert _rid(r) == rid
    rec = s.get(f"{url}{TB}/{rid}").json()
    assert (rec["hours"], rec["memo"], rec["externalid"]) == ("3.50", "corrected", "kantata-te-1:v1")
    items = _suiteql(s, c, "SELECT id, hours, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lm, "
                           "TO_CHAR(datecreated, 'YYYY-MM-DD HH24:MI:SS') AS dc FROM timebill "
                           "WHERE lastmodifieddate >= TO_TIMESTAMP('2026-03-02 01:00:00', 'YYYY-MM-DD HH24:MI:SS')")
    assert [(i["id"], i["hours"]) for i in items] == [(rid, "3.50")] and items[0]["lm"] > items[0]["dc"]
    # the same validations as on create, on the merged record
    for change, code, path in [({"employee": {"id": "99999"}}, "INVALID_KEY_OR_REF", "employee"),
                               ({"hours": 25}, "INVALID_FLD_VALUE", "hours"),
                               ({"item": {"id": "105"}}, "INVALID_KEY_OR_REF", "item"),
                               ({"subsidiary": {"id": "99"}}, "INVALID_FLD_VALUE", "subsidiary"),
                               ({"tranDate": "2025-10-15"}, "INVALID_FLD_VALUE", "tranDate")]:
        d = _detail(s.patch(f"{url}{TB}/{rid}", json=change))
        assert (d["o:errorCode"], d["o:errorPath"]) == (code, path), change
    missing = s.patch(f"{url}{TB}/12345", json={"hours": 1})
    assert missing.status_code == 404 and missing.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"
    assert [(e["op"], e["verb"], e["idempotency_key"]) for e in c.ledger()] == [
        ("create", "POST", None), ("update", "PATCH", "te-1:v2")]


def test_delete_is_a_deleted_record(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    rid = _rid(s.post(url + TB, json=_entry(c, "kantata-te-2:v1")))
    r = s.delete(f"{url}{TB}/{rid}", headers={"X-NetSuite-Idempotency-Key": "te-2:v1:delete"})
    assert _rid(r) == rid
    assert s.get(f"{url}{TB}/{rid}").status_code == 404
    assert s.delete(f"{url}{TB}/{rid}").status_code == 404
    assert _suiteql(s, c, "SELECT id FROM timebill") == []
    gone = _suiteql(s, c, "SELECT recordid FROM DeletedRecord WHERE recordtype = 'timebill'")
    assert [g["recordid"] for g in gone] == [rid]
    assert c.truth("netsuite", "timebill")["deleted_ids"] == [rid]
    live = requests.get(url + "/__sim/truth", params={"object": "timebill_live"}).json()
    assert live["by_external_id"] == {} and live["records"] == []
    assert [e["op"] for e in c.ledger()] == ["create", "delete"]
    # the external id is free again: a new record may take it
    assert _rid(s.post(url + TB, json=_entry(c, "kantata-te-2:v1"))) != rid


def test_get_and_upsert_by_external_id(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    r = s.get(f"{url}{TB}/eid:kantata-te-3")
    assert r.status_code == 404 and r.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"
    body = _entry(c, None)
    del body["externalId"]
    rid = _rid(s.put(f"{url}{TB}/eid:kantata-te-3", json=body, headers={"X-NetSuite-Idempotency-Key": "u1"}))
    got = s.get(f"{url}{TB}/eid:kantata-te-3").json()
    assert got["id"] == int(rid) and got["externalid"] == "kantata-te-3"
    assert _rid(s.put(f"{url}{TB}/eid:kantata-te-3", json={"hours": 5})) == rid  # an update now
    assert s.get(f"{url}{TB}/{rid}").json()["hours"] == "5.00"
    d = _detail(s.put(f"{url}{TB}/eid:kantata-te-3", json={"externalId": "other"}))
    assert (d["o:errorCode"], d["o:errorPath"]) == ("INVALID_FLD_VALUE", "externalId")
    assert _detail(s.put(f"{url}{TB}/{rid}", json=body))["o:errorCode"] == "INVALID_REQUEST"
    assert _detail(s.put(f"{url}{TB}/eid:kantata-te-4", json={**body, "hours": 0}))["o:errorPath"] == "hours"
    # PATCH and DELETE address records by external id too
    assert _rid(s.patch(f"{url}{TB}/eid:kantata-te-3", json={"hours": 6})) == rid
    assert [(e["op"], e["verb"]) for e in c.ledger()] == [("create", "PUT"), ("update", "PUT"),
                                                          ("update", "PATCH")]
    # DUP_RCRD: a second record can never take an external id
    assert _detail(s.post(url + TB, json=_entry(c, "kantata-te-3")))["o:errorCode"] == "DUP_RCRD"
    live = c.truth("netsuite", "timebill_live")
    assert live["by_external_id"] == {"kantata-te-3": [rid]} and live["duplicates"] == []
    assert live["records"][0]["billed"] is None
    # asynchronously: 202 + the job, whose result is the record's Location
    for verb, ref in (("put", "eid:kantata-te-5"), ("delete", "eid:kantata-te-5")):
        r = getattr(s, verb)(f"{url}{TB}/{ref}", json=body, headers={"Prefer": "respond-async",
                                                                     "X-NetSuite-Idempotency-Key": f"a-{verb}"})
        assert r.status_code == 202
        result = s.get(r.headers["Location"] + "/task/" + r.headers["Location"].rsplit("/", 1)[1] + "/result")
        assert result.status_code == 204 and "/timeBill/" in result.headers["Location"]
    assert s.get(f"{url}{TB}/eid:kantata-te-5").status_code == 404
    assert [e["op"] for e in c.ledger()][-2:] == ["create", "delete"]


def test_billing_event_verbs(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    _, job = _ids(c)
    cur = {1: "USD", 2: "GBP", 4: "EUR"}[job["currency"]]
    ev = {"custrecord_hbe_job": {"id": str(job["id"])}, "custrecord_hbe_milestone": "40004",
          "custrecord_hbe_amount": 1500.0, "custrecord_hbe_date": "2026-03-01"}
    rid = _rid(s.put(f"{url}{BE}/eid:kantata-story-40004", json=ev))
    assert _rid(s.patch(f"{url}{BE}/{rid}", json={"custrecord_hbe_amount": 1750})) == rid
    assert s.get(f"{url}{BE}/eid:kantata-story-40004").json()["custrecord_hbe_amount"] == "1750.00"
    d = _detail(s.patch(f"{url}{BE}/{rid}", json={"custrecord_hbe_currency": "EUR" if cur != "EUR" else "USD"}))
    assert d["o:errorPath"] == "custrecord_hbe_currency"
    assert c.truth("netsuite", "billing_event_live")["by_external_id"] == {"kantata-story-40004": [rid]}
    assert _rid(s.delete(f"{url}{BE}/eid:kantata-story-40004")) == rid
    assert c.truth("netsuite", "customrecord_handoff_billing_event")["deleted_ids"] == [rid]
    assert [e["op"] for e in c.ledger()] == ["create", "update", "delete"]


def test_billed_time_and_closed_periods_are_refused(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    billed = _rid(s.post(url + TB, json=_entry(c, "te-billed")))
    r = requests.post(url + "/__sim/bill", json={"external_ids": ["te-billed"]})
    assert r.json() == {"billed": [int(billed)]}
    for resp in (s.patch(f"{url}{TB}/{billed}", json={"hours": 1}), s.delete(f"{url}{TB}/{billed}"),
                 s.put(f"{url}{TB}/eid:te-billed", json={"hours": 1})):
        d = _detail(resp)
        assert d["o:errorCode"] == "CANT_MODIFY_BILLED_TIME" and "billed" in d["detail"]
    assert c.truth("netsuite", "timebill_live")["records"][0]["billed"] == "an invoice"
    # a record dated in a period that closed after it was posted
    jan = _rid(s.post(url + TB, json=_entry(c, "te-jan", day="2026-01-20")))
    ev = _rid(s.post(url + BE, json={"custrecord_hbe_job": _entry(c, "")["customer"], "custrecord_hbe_milestone": "9",
                                     "custrecord_hbe_amount": 10, "custrecord_hbe_date": "2026-01-21"}))
    assert requests.post(url + "/__sim/close_period", json={"date": "2026-01-05"}).json() == {
        "period": "Jan 2026", "closed": "T"}
    for resp, path in ((s.patch(f"{url}{TB}/{jan}", json={"tranDate": "2026-02-02"}), "tranDate"),
                       (s.delete(f"{url}{TB}/{jan}"), "tranDate"),
                       (s.patch(f"{url}{BE}/{ev}", json={"custrecord_hbe_amount": 11}), "custrecord_hbe_date"),
                       (s.delete(f"{url}{BE}/{ev}"), "custrecord_hbe_date")):
        d = _detail(resp)
        assert (d["o:errorCode"], d["o:errorPath"]) == ("INVALID_FLD_VALUE", path) and "Jan 2026 is closed" in d["detail"]
    # ... and a change moving open time into a closed period
    opn = _rid(s.post(url + TB, json=_entry(c, "te-open")))
    d = _detail(s.patch(f"{url}{TB}/{opn}", json={"tranDate": "2026-01-30"}))
    assert (d["o:errorCode"], d["o:errorPath"]) == ("INVALID_FLD_VALUE", "tranDate") and "closed" in d["detail"]
    assert [e["op"] for e in c.ledger()] == ["create", "create", "create", "create"]  # nothing refused got in


def test_month_end_invoice_bills_the_months_time(fresh):
    """The world's invoice run on the 1st (06:00) bills the job's billable timebills of the month before."""
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    emp, _ = _ids(c)
    jobs = [p["job_id"] for p in c.world.projects if not p["closed"] and p["end_day"] > c.world.now // 86400 + 31]
    posted = {}
    for job in jobs:
        body = {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job)}, "hours": 1}
        posted[job] = [_rid(s.post(url + TB, json={**body, "tranDate": "2026-03-10", "externalId": f"m{job}"})),
                       _rid(s.post(url + TB, json={**body, "tranDate": "2026-03-11", "isBillable": False,
                                                   "externalId": f"n{job}"})),
                       _rid(s.post(url + TB, json={**body, "tranDate": "2026-04-01", "externalId": f"a{job}"}))]
    c.advance(30 * 24 + 7)  # 2026-04-01 07:00: March invoiced
    inv = {t["entity"]: t["tranid"] for t in c.world.ns["transaction"].values()
           if t["memo"] == "Time & materials 2026-03"}
    assert set(inv) & set(jobs)
    billed = {r["id"]: r["billed"] for r in c.truth("netsuite", "timebill_live")["records"]}
    assert billed == {rid: inv.get(job) if i == 0 else None for job, rids in posted.items()
                      for i, rid in enumerate(rids)}
    job = next(j for j in jobs if j in inv)
    march, _, april = posted[job]
    assert _detail(s.patch(f"{url}{TB}/{march}", json={"hours": 2}))["o:errorCode"] == "CANT_MODIFY_BILLED_TIME"
    assert _rid(s.patch(f"{url}{TB}/{april}", json={"hours": 2})) == april


def test_repeated_key_points_at_the_first_job(fresh):
    c, cl = fresh
    s, url = cl.session("netsuite"), c.url("netsuite")
    first = s.post(url + TB, json=_entry(c, "te-5"), headers={"X-NetSuite-Idempotency-Key": "k5"})
    rid = _rid(first)
    for extra in ({}, {"Prefer": "respond-async"}):  # sync and async repeats alike
        again = s.post(url + TB, json=_entry(c, "te-5"), headers={"X-NetSuite-Idempotency-Key": "k5", **extra})
        assert _detail(again)["o:errorCode"] == "IDEMPOTENCY_ERROR"
        job_url = again.headers["Location"]
        assert job_url.endswith("/services/rest/async/v1/job/1")
        assert s.get(job_url).json()["progress"] == "succeeded"
        result = s.get(f"{job_url}/task/1/result")
        assert result.status_code == 204 and result.headers["Location"].endswith(f"/timeBill/{rid}")
    # the key of a PATCH or DELETE is just as single-use
    assert _rid(s.patch(f"{url}{TB}/{rid}", json={"hours": 4}, headers={"X-NetSuite-Idempotency-Key": "k6"})) == rid
    again = s.delete(f"{url}{TB}/{rid}", headers={"X-NetSuite-Idempotency-Key": "k6"})
    assert _detail(again)["o:errorCode"] == "IDEMPOTENCY_ERROR" and again.headers["Location"].endswith("/job/2")
    assert s.get(f"{url}{TB}/{rid}").status_code == 200
    # a first request that failed: its job keeps the failure
    bad = s.patch(f"{url}{TB}/{rid}", json={"hours": 30}, headers={"X-NetSuite-Idempotency-Key": "k7",
                                                                   "Prefer": "respond-async"})
    assert bad.status_code == 202
    again = s.patch(f"{url}{TB}/{rid}", json={"hours": 3}, headers={"X-NetSuite-Idempotency-Key": "k7"})
    job_url = again.headers["Location"]
    assert s.get(job_url).json()["progress"] == "failed"
    assert _detail(s.get(job_url + "/task/3/result"))["o:errorPath"] == "hours"
    assert [e["op"] for e in c.ledger()] == ["create", "update"]


def test_slow_erp_gives_75_requests_per_second_at_15_in_flight(fresh):
    """200 ms per request and 15 in flight: ~75 requests/s, and a client that keeps <= 15 in flight
    never sees a 429 (a finished request leaves the count before its answer is written)."""
    import time
    c, cl = fresh
    token = cl.token("netsuite")
    c.set_faults("netsuite", {"slow": 1.0, "slow_seconds": 0.2})
    url = c.url("netsuite") + "/services/rest/record/v1/job/5000"
    codes = []

    def worker(n):
        with requests.Session() as sess:
            sess.headers["Authorization"] = f"Bearer {token}"
            for _ in range(n):
                r = sess.get(url, timeout=10)
                codes.append((r.status_code, r.headers.get("Retry-After")))

    def run(threads, n):
        ts = [threading.Thread(target=worker, args=(n,)) for _ in range(threads)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.monotonic() - t0

    elapsed = run(15, 6)
    assert [code for code, _ in codes] == [200] * 90
    assert 90 / elapsed > 50, f"{90 / elapsed:.0f} requests/s"  # 75 on an idle machine
    codes.clear()
    run(20, 1)
    assert {code for code, _ in codes} == {200, 429} and ("429", "1") not in codes
    assert all(ra == "1" for code, ra in codes if code == 429)

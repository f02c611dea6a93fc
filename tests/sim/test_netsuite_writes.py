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

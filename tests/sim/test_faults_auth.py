"""Each fault is produced as configured; 401 bodies per system."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
import requests

KANTATA_TE = "/api/v1/time_entries.json"


def _get_raw(url: str, path: str, headers: dict, timeout: float = 5):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    c.request("GET", path, headers=headers)
    return c.getresponse()


RATE_LIMIT_CASES = {
    "salesforce": (403, "Sforce-Limit-Info", lambda b: b[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED",
                   "/services/data/v62.0/query?q=SELECT+Id+FROM+Account"),
    "hubspot": (429, "X-HubSpot-RateLimit-Daily-Remaining", lambda b: b["policyName"] == "TEN_SECONDLY_ROLLING",
                "/crm/v3/objects/companies"),
    "kantata": (429, None, lambda b: b["errors"][0]["type"] == "rate_limit", KANTATA_TE),
    "workday": (429, None, lambda b: "errors" in b,
                "/ccx/service/customreport2/t/o/Handoff_Workers?format=json"),
    "netsuite": (429, None, lambda b: b["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED",
                 "/services/rest/record/v1/timeBill/1"),
}


@pytest.mark.parametrize("system", list(RATE_LIMIT_CASES))
def test_rate_limit_each_system(fresh, system):
    c, cl = fresh
    status, header, check, path = RATE_LIMIT_CASES[system]
    s = cl.session(system)
    c.set_faults(system, {"rate_limit": {"next": 2}, "retry_after": 3})
    for _ in range(2):
        r = s.get(c.url(system) + path)
        assert r.status_code == status and r.headers["Retry-After"] == "3"
        assert check(r.json())
        if header:
            assert header in r.headers
    assert s.get(c.url(system) + path).status_code not in (403, 429)


def test_rate_limit_every_and_share_via_admin_endpoint(fresh):
    c, cl = fresh
    s = cl.session("kantata")
    r = requests.post(c.url("kantata") + "/__sim/faults", json={"rate_limit": {"every": 3}})
    assert r.status_code == 200
    codes = [s.get(c.url("kantata") + KANTATA_TE).status_code for _ in range(9)]
    assert codes == [200, 200, 429] * 3
    requests.post(c.url("kantata") + "/__sim/faults", json={"error_5xx": 0.5, "status_5xx": [503]})
    codes = [s.get(c.url("kantata") + KANTATA_TE).status_code for _ in range(40)]
    assert 5 < codes.count(503) < 35 and set(codes) == {200, 503}
    requests.delete(c.url("kantata") + "/__sim/faults")
    assert s.get(c.url("kantata") + KANTATA_TE).status_code == 200
    assert requests.post(c.url("kantata") + "/__sim/faults", json={"bogus": 1}).status_code == 400


ERROR_FORMATS = {  # (path, check of the body) per system
    "salesforce": ("/services/data/v62.0/query?q=SELECT+Id+FROM+Account",
                   lambda b: isinstance(b, list) and {"message", "errorCode"} <= set(b[0])),
    "hubspot": ("/crm/v3/objects/deals",
                lambda b: b["status"] == "error" and {"message", "correlationId", "category"} <= set(b)),
    "kantata": (KANTATA_TE, lambda b: {"type", "message"} <= set(b["errors"][0])),
    "workday": ("/ccx/service/customreport2/t/o/Handoff_Workers?format=json", lambda b: "errors" in b),
    "netsuite": ("/services/rest/record/v1/job/5000",
                 lambda b: {"type", "title", "status"} <= set(b) and "o:errorCode" in b["o:errorDetails"][0]),
}


@pytest.mark.parametrize("system", list(ERROR_FORMATS))
def test_5xx_each_system_in_its_error_format(fresh, system):
    c, cl = fresh
    path, check = ERROR_FORMATS[system]
    s = cl.session(system)
    c.set_faults(system, {"error_5xx": {"next": 3}, "status_5xx": [500, 502, 503]})
    for _ in range(3):
        r = s.get(c.url(system) + path)
        assert r.status_code in (500, 502, 503) and check(r.json()), r.text
    assert s.get(c.url(system) + path).status_code == 200
    if system == "salesforce":
        assert "Sforce-Limit-Info" in r.headers  # on every response, errors included


def test_faults_spare_token_endpoints_unless_include_auth(fresh):
    c, cl = fresh
    c.set_faults("kantata", {"rate_limit": 1.0})
    assert cl.token("kantata")  # token endpoint not faulted by default
    c.set_faults("kantata", {"rate_limit": 1.0, "include_auth": True})
    r = requests.post(c.url("kantata") + "/oauth/token", data={"grant_type": "client_credentials",
                                                               "client_id": "test-id", "client_secret": "test-secret"})
    assert r.status_code == 429 and r.json()["errors"][0]["type"] == "rate_limit"


def test_5xx_in_system_format(fresh):
    c, cl = fresh
    c.set_faults("netsuite", {"error_5xx": {"next": 1}, "status_5xx": [500]})
    r = cl.session("netsuite").post(c.url("netsuite") + "/services/rest/query/v1/suiteql",
                                    json={"q": "SELECT id FROM job"})
    assert r.status_code == 500 and r.json()["status"] == 500 and "o:errorDetails" in r.json()


def test_slow(fresh):
    c, cl = fresh
    s = cl.session("kantata")
    c.set_faults("kantata", {"slow": {"next": 1}, "slow_seconds": 0.6})
    t = time.monotonic()
    assert s.get(c.url("kantata") + KANTATA_TE).status_code == 200
    assert time.monotonic() - t >= 0.55
    t = time.monotonic()
    s.get(c.url("kantata") + KANTATA_TE)
    assert time.monotonic() - t < 0.5


def test_timeout_hangs_past_client_timeout(fresh):
    c, cl = fresh
    s = cl.session("kantata")
    c.set_faults("kantata", {"timeout": {"next": 1}, "timeout_seconds": 3})
    with pytest.raises(requests.exceptions.Timeout):
        s.get(c.url("kantata") + KANTATA_TE, timeout=0.5)
    assert s.get(c.url("kantata") + KANTATA_TE, timeout=5).status_code == 200


def test_drop_closes_without_response(fresh):
    c, cl = fresh
    tok = cl.token("kantata")
    c.set_faults("kantata", {"drop": {"next": 1}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _get_raw(c.url("kantata"), KANTATA_TE, {"Authorization": f"Bearer {tok}"}).read()
    assert _get_raw(c.url("kantata"), KANTATA_TE, {"Authorization": f"Bearer {tok}"}).status == 200


def test_malformed_page(fresh):
    c, cl = fresh
    c.set_faults("hubspot", {"malformed": {"next": 1}})
    r = cl.session("hubspot").get(c.url("hubspot") + "/crm/v3/objects/deals")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content)


@pytest.mark.parametrize("system,path,rename,check", [
    ("kantata", KANTATA_TE, "updated_at",
     lambda b: all("updatedAt" in r and "updated_at" not in r for r in b["time_entries"].values())),
    ("hubspot", "/crm/v3/objects/deals", "dealname",
     lambda b: all("deal_name" in r["properties"] for r in b["results"])),
    ("salesforce", "/services/data/v62.0/query?q=SELECT+Id,Name+FROM+Account", "Name",
     lambda b: all("deal_name" in r for r in b["records"])),
    ("workday", "/ccx/service/customreport2/t/o/Handoff_Workers?format=json", "Hire_Date",
     lambda b: all("deal_name" in r for r in b["Report_Entry"])),
    ("netsuite", "/services/rest/query/v1/suiteql", "entityid",
     lambda b: all("deal_name" in r and "entityid" not in r for r in b["items"])),
])
def test_schema_drift(fresh, system, path, rename, check):
    c, cl = fresh
    new = "updatedAt" if system == "kantata" else "deal_name"
    c.set_faults(system, {"drift": {"rename": {rename: new}, "add": {"x_new_field": "1"}}})
    s = cl.session(system)
    if system == "netsuite":
        body = s.post(c.url(system) + path, json={"q": "SELECT id, entityid FROM job"}).json()
    else:
        body = s.get(c.url(system) + path).json()
    assert check(body) and all(r["x_new_field"] == "1" for r in drifted_records(system, body))


def drifted_records(system, body):
    if system == "kantata":
        return list(body["time_entries"].values())
    if system == "hubspot":
        return [r["properties"] for r in body["results"]]
    return body[{"salesforce": "records", "workday": "Report_Entry", "netsuite": "items"}[system]]


def test_token_expiry_and_401_bodies(fresh):
    c, cl = fresh
    sessions = {s: cl.session(s) for s in c.SYSTEMS}
    paths = {"salesforce": "/services/data/v62.0/query?q=SELECT+Id+FROM+User", "hubspot": "/crm/v3/objects/deals",
             "kantata": KANTATA_TE, "workday": "/ccx/service/customreport2/t/o/Handoff_Workers?format=json",
             "netsuite": "/services/rest/record/v1/job/5000"}
    for s in c.SYSTEMS:
        assert sessions[s].get(c.url(s) + paths[s]).status_code == 200, s
        c.set_faults(s, {"expire_tokens": True})
    bodies = {s: sessions[s].get(c.url(s) + paths[s]) for s in c.SYSTEMS}
    assert all(r.status_code == 401 for r in bodies.values())
    assert bodies["salesforce"].json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert bodies["hubspot"].json()["category"] == "EXPIRED_AUTHENTICATION"
    assert bodies["kantata"].json()["errors"][0]["type"] == "authentication"
    assert "errors" in bodies["workday"].json()
    assert bodies["netsuite"].json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    for s in c.SYSTEMS:  # a new token (or the next request, for static credentials) works again
        assert cl.session(s).get(c.url(s) + paths[s]).status_code == 200, s


def test_token_ttl_and_bad_credentials(fresh):
    c, cl = fresh
    c.servers["kantata"].tokens.ttl = 0.3
    s = cl.session("kantata")
    assert s.get(c.url("kantata") + KANTATA_TE).status_code == 200
    time.sleep(0.4)
    assert s.get(c.url("kantata") + KANTATA_TE).status_code == 401
    r = requests.post(c.url("kantata") + "/oauth/token", data={"grant_type": "client_credentials",
                                                               "client_id": "x", "client_secret": "y"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    assert requests.get(c.url("hubspot") + "/crm/v3/objects/deals",
                        headers={"Authorization": "Bearer wrong"}).json()["category"] == "INVALID_AUTHENTICATION"
    assert requests.get(c.url("workday") + "/ccx/service/customreport2/t/o/Handoff_Workers?format=json",
                        auth=("id", "wrong")).status_code == 401


def test_paths_filter_limits_faults(fresh):
    c, cl = fresh
    s = cl.session("kantata")
    c.set_faults("kantata", {"rate_limit": 1.0, "paths": "stories"})
    assert s.get(c.url("kantata") + KANTATA_TE).status_code == 200
    assert s.get(c.url("kantata") + "/api/v1/stories.json").status_code == 429

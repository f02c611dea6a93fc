"""Latency model and documented rate limits of the simulators (handoff.sim.pacing).

Timing: only lower bounds are asserted (a loaded machine makes answers slower, never faster), and
the limit tests use windows long enough that a slow machine still fits its burst inside them.
"""

from __future__ import annotations

import argparse
import threading
import time

import pytest
import requests

from handoff.sim import SimCluster
from handoff.sim import pacing as pacing_mod
from handoff.sim.pacing import Pacing, PacingConfigError, system_config

from .conftest import CREDS, Clients

KT_TE = "/api/v1/time_entries.json"
SF_Q = "/services/data/v62.0/query?q=SELECT+Id,Name+FROM+Account"
HS = "/crm/v3/objects/companies"
NS_GET = "/services/rest/record/v1/job/5000"


@pytest.fixture(scope="module")
def sims():
    with SimCluster(seed=5, scale="tiny", credentials=CREDS) as c:
        yield c, Clients(c)


@pytest.fixture
def sim(sims):
    c, cl = sims
    yield c, cl
    for s in c.systems:
        requests.delete(c.url(s) + "/__sim/pacing", timeout=10)
        c.clear_faults(s)


def _pace(c, system, config):
    r = requests.post(c.url(system) + "/__sim/pacing", json=config, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _stats(c, system):
    return requests.get(c.url(system) + "/__sim/pacing", timeout=10).json()


# ---- config ---------------------------------------------------------------------------------
def test_profiles_and_overrides():
    assert system_config("off", "hubspot") == {"profile": "off", "latency_ms": 0.0, "per_record_ms": 0.0,
                                               "limits": {}}
    doc = system_config("documented", "hubspot")
    assert doc["limits"]["burst"] == {"requests": 190, "seconds": 10.0}
    assert doc["limits"]["search"]["requests"] == 4 and doc["latency_ms"] == 0
    assert system_config("documented", "kantata")["limits"] == {"rate": {"requests": 20, "seconds": 1}}
    assert system_config("documented", "salesforce")["limits"]["daily"] == {"requests": 100000, "seconds": 86400}
    assert system_config("documented", "netsuite")["limits"] == {"concurrency": {"concurrent": 15}}
    assert system_config("documented", "workday")["limits"] == {}
    real = system_config("realistic", "kantata")
    assert (real["latency_ms"], real["per_record_ms"]) == (200, 0.25) and real["limits"]["rate"]["requests"] == 20
    # cluster-wide dict: a default profile, per-system overrides, a limit removed with null
    cfg = {"profile": "documented", "kantata": {"latency_ms": 250, "limits": {"rate": "10/2"}},
           "hubspot": {"limits": {"search": None}}, "workday": "realistic"}
    assert system_config(cfg, "kantata")["limits"]["rate"] == {"requests": 10, "seconds": 2.0}
    assert system_config(cfg, "kantata")["latency_ms"] == 250
    assert set(system_config(cfg, "hubspot")["limits"]) == {"burst"}
    assert system_config(cfg, "workday")["latency_ms"] == 400
    assert system_config(cfg, "salesforce")["limits"]["daily"]["requests"] == 100000
    assert system_config({"kantata": {"latency_ms": 5}}, "salesforce")["profile"] == "off"


@pytest.mark.parametrize("config, key", [
    ({"latency": 5}, "latency"),
    ({"latency_ms": -1}, "latency_ms"),
    ({"profile": "fast"}, "profile"),
    ({"limits": {"rate": {"requests": 0, "seconds": 1}}}, "rate.requests"),
    ({"limits": {"rate": {"requests": 5}}}, "rate.seconds"),
    ({"limits": {"rate": {"requests": 5, "seconds": 1, "burst": 2}}}, "burst"),
    ({"limits": {"search": {"requests": 5, "seconds": 1, "paths": "("}}}, "search.paths"),
    ({"kantata": {"limits": {"rate": "many"}}}, "rate"),
])
def test_bad_config_is_refused_naming_the_key(sim, config, key):
    c, _ = sim
    with pytest.raises(PacingConfigError, match=key.replace(".", r"\.")):
        system_config(config, "kantata")
    r = requests.post(c.url("kantata") + "/__sim/pacing", json=config, timeout=10)
    assert r.status_code == 400 and key in r.json()["error"]
    with pytest.raises(PacingConfigError):
        SimCluster(credentials=CREDS, pacing={"kantata": config} if "kantata" not in config else config)


def test_rolling_window_is_exact(monkeypatch):
    now = [1000.0]

    class Clock:
        @staticmethod
        def monotonic():
            return now[0]

    monkeypatch.setattr(pacing_mod, "time", Clock)
    p = Pacing("kantata", {"limits": {"rate": "3/1", "search": {"requests": 1, "seconds": 10, "paths": "/s$"}}})
    assert [p.admit("/x").refused for _ in range(3)] == [None] * 3
    now[0] += 0.5
    refusal = p.admit("/x").refused
    assert refusal.limit.name == "rate" and refusal.count == 3 and refusal.reset == pytest.approx(0.5)
    now[0] += 0.5  # the first three leave the window exactly now; the refused one (at +0.5) stays
    adm = p.admit("/x")
    assert adm.refused is None and adm.count("rate")[1] == 2
    now[0] += 5  # all of the rate window gone
    assert p.admit("/s").refused is None
    refusal = p.admit("/s").refused  # the search window is full; the rate window holds two
    assert refusal.limit.name == "search" and refusal.reset == pytest.approx(10)
    assert p.admit("/x").refused is None  # the third in the rate window (the refused search is one)
    assert p.admit("/x").refused.limit.name == "rate"
    now[0] += 0.999
    assert p.admit("/x").refused.limit.name == "rate"
    now[0] += 0.002
    assert p.admit("/x").refused is None  # the three at +6.0 left; +6.999 (refused) is still inside
    assert p.refused == {"rate": 3, "search": 1}


# ---- latency --------------------------------------------------------------------------------
def test_latency_per_request_and_per_record(sim):
    c, cl = sim
    s = cl.session("kantata")
    _pace(c, "kantata", {"latency_ms": 60, "per_record_ms": 2})
    t0 = time.monotonic()
    body = s.get(c.url("kantata") + KT_TE, params={"per_page": 40, "from_archived_workspaces": "true"}).json()
    elapsed = time.monotonic() - t0
    n = len(body["results"])
    assert n > 0 and elapsed >= 0.060 + 0.002 * n
    # a handler answering a dict: records counted before the JSON is written
    _pace(c, "salesforce", {"latency_ms": 0, "per_record_ms": 5})
    sf = cl.session("salesforce")
    t0 = time.monotonic()
    body = sf.get(c.url("salesforce") + SF_Q).json()
    assert time.monotonic() - t0 >= 0.005 * len(body["records"]) > 0
    stats = _stats(c, "salesforce")["counters"]
    assert stats["slept_seconds"] > 0 and stats["refused_total"] == 0
    # errors pay the base latency too
    _pace(c, "hubspot", {"latency_ms": 80})
    t0 = time.monotonic()
    assert requests.get(c.url("hubspot") + HS, timeout=10).status_code == 401
    assert time.monotonic() - t0 >= 0.080


def test_realistic_profile_from_the_constructor():
    with SimCluster(seed=5, scale="tiny", credentials=CREDS, systems=("workday",), pacing="realistic") as c:
        s = Clients(c).session("workday")
        t0 = time.monotonic()
        r = s.get(c.url("workday") + "/ccx/service/customreport2/t/o/Handoff_Workers?format=json")
        assert r.status_code == 200 and time.monotonic() - t0 >= 0.4 + 0.00005 * len(r.json()["Report_Entry"])
        assert c.pacing_stats("workday")["config"]["latency_ms"] == 400


# ---- each system's refusal ------------------------------------------------------------------
def test_hubspot_burst_refusal_and_headers(sim):
    c, cl = sim
    _pace(c, "hubspot", {"limits": {"burst": "5/30"}})
    s = cl.session("hubspot")
    got = [s.get(c.url("hubspot") + HS) for _ in range(7)]
    assert [r.status_code for r in got] == [200] * 5 + [429] * 2
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in got[:5]] == ["4", "3", "2", "1", "0"]
    r = got[5]
    assert r.headers["X-HubSpot-RateLimit-Max"] == "5" and r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "30000"
    assert "X-HubSpot-RateLimit-Daily-Remaining" in r.headers
    body = r.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["category"] == "RATE_LIMITS"
    assert body["errorType"] == "RATE_LIMIT" and body["status"] == "error"
    counters = _stats(c, "hubspot")["counters"]
    assert counters["requests"] == 7 and counters["refused"] == {"burst": 2}


def test_hubspot_search_limit(sim):
    c, cl = sim
    _pace(c, "hubspot", {"profile": "documented", "limits": {"search": {"requests": 3, "seconds": 30,
                                                                         "paths": r"/search\Z"}}})
    s = cl.session("hubspot")
    search = {"filterGroups": [], "sorts": [], "properties": ["name"], "limit": 10, "after": 0}
    codes = [s.post(c.url("hubspot") + HS + "/search", json=search).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = s.post(c.url("hubspot") + HS + "/search", json=search)
    assert r.status_code == 429 and r.json()["policyName"] == "SECONDLY"
    assert r.headers["X-HubSpot-RateLimit-Max"] == "3" and r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "30000"
    ok = s.get(c.url("hubspot") + HS)  # lists are only under the burst limit
    assert ok.status_code == 200 and ok.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert ok.headers["X-HubSpot-RateLimit-Remaining"] == str(190 - 6)  # refused searches count too
    assert _stats(c, "hubspot")["counters"]["refused"] == {"search": 2}


def test_kantata_rate_refusal(sim):
    c, cl = sim
    _pace(c, "kantata", {"limits": {"rate": "3/30"}})
    s = cl.session("kantata")
    got = [s.get(c.url("kantata") + KT_TE) for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    r = got[-1]
    assert r.json()["errors"][0]["type"] == "rate_limit"
    assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(r.headers["Retry-After"]) <= 30 and r.headers["X-RateLimit-Reset"] == r.headers["Retry-After"]
    assert cl.token("kantata")  # the token endpoint is not rate limited


def test_salesforce_daily_limit(sim):
    c, cl = sim
    _pace(c, "salesforce", {"profile": "documented", "limits": {"daily": "3/86400"}})
    s = cl.session("salesforce")
    got = [s.get(c.url("salesforce") + SF_Q) for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 403]
    assert [r.headers["Sforce-Limit-Info"] for r in got] == [f"api-usage={n}/3" for n in (1, 2, 3, 3)]
    assert got[-1].json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    _pace(c, "salesforce", "documented")
    r = s.get(c.url("salesforce") + SF_Q)
    assert r.status_code == 200 and r.headers["Sforce-Limit-Info"] == "api-usage=1/100000"


def test_netsuite_concurrency_refusal(sim):
    c, cl = sim
    _pace(c, "netsuite", {"latency_ms": 400, "limits": {"concurrency": {"concurrent": 2}}})
    token = cl.token("netsuite")
    barrier, got = threading.Barrier(5), []

    def get():
        barrier.wait()
        got.append(requests.get(c.url("netsuite") + NS_GET, headers={"Authorization": f"Bearer {token}"},
                                timeout=10))

    threads = [threading.Thread(target=get) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in got if r.status_code == 429]
    assert refused and any(r.status_code == 200 for r in got)
    assert refused[0].json()["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert "Retry-After" in refused[0].headers
    counters = _stats(c, "netsuite")["counters"]
    assert counters["refused"] == {"concurrency": len(refused)} and counters["max_in_flight"] >= 3
    # off: no pacing limits, NetSuite's concurrency limit of 15 stays (as the fault key can lower it)
    assert requests.delete(c.url("netsuite") + "/__sim/pacing", timeout=10).json()["config"]["limits"] == {}
    assert c.servers["netsuite"].concurrency_limit() == 15


def test_a_client_under_the_limit_sees_no_refusal(sim):
    c, cl = sim
    s = cl.session("kantata")
    _pace(c, "kantata", {"limits": {"rate": "4/1"}})
    codes = []
    for _ in range(8):  # at most three a second: never four inside one rolling second
        t0 = time.monotonic()
        codes.append(s.get(c.url("kantata") + KT_TE).status_code)
        time.sleep(max(0.0, 0.35 - (time.monotonic() - t0)))
    assert codes == [200] * 8
    counters = _stats(c, "kantata")["counters"]
    assert counters["refused_total"] == 0 and counters["requests"] == 8


def test_counters_and_admin_endpoints(sim):
    c, cl = sim
    stats = _pace(c, "hubspot", "documented")
    assert stats["config"]["limits"]["burst"] == {"requests": 190, "seconds": 10.0}
    assert stats["counters"] == {"requests": 0, "refused": {}, "refused_total": 0, "max_in_flight": 0,
                                 "in_flight": 0, "in_window": {"burst": 0, "search": 0}, "slept_seconds": 0.0}
    s = cl.session("hubspot")
    for _ in range(3):
        s.get(c.url("hubspot") + HS)
    counters = _stats(c, "hubspot")["counters"]
    assert counters["requests"] == 3 and counters["in_window"] == {"burst": 3, "search": 0}
    assert counters["max_in_flight"] >= 1
    assert c.pacing_stats("hubspot")["counters"]["requests"] == 3
    # the cluster API takes the cluster-wide form
    out = c.set_pacing({"profile": "documented", "kantata": {"latency_ms": 1}}, systems=("kantata", "hubspot"))
    assert out["kantata"]["config"]["latency_ms"] == 1 and out["hubspot"]["counters"]["requests"] == 0
    off = requests.delete(c.url("hubspot") + "/__sim/pacing", timeout=10).json()
    assert off["config"]["profile"] == "off" and off["config"]["limits"] == {}
    r = s.get(c.url("hubspot") + HS)
    assert r.status_code == 200 and "X-HubSpot-RateLimit-Max" not in r.headers  # no limit, no window headers


def test_faults_still_refuse_with_pacing_on(sim):
    c, cl = sim
    _pace(c, "kantata", "documented")
    c.set_faults("kantata", {"rate_limit": {"next": 1}, "retry_after": 2})
    s = cl.session("kantata")
    r = s.get(c.url("kantata") + KT_TE)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert s.get(c.url("kantata") + KT_TE).status_code == 200


def test_cli_pacing_option():
    from handoff.sim.cli import register
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="command"))
    assert ap.parse_args(["sim", "serve"]).pacing == "documented"
    assert ap.parse_args(["sim", "serve", "--pacing", '{"kantata": "realistic"}']).pacing == '{"kantata": "realistic"}'

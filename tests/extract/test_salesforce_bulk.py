"""Salesforce windows read through Bulk API 2.0 land exactly what REST lands.

The runner's windowed loads are the lead's; here the runner is handed one `window`-mode window
(cursor untouched) so the stream's Bulk path runs end to end: sims → client → pipeline → raw.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
import requests
from helpers import assert_matches_truth, connect_env, query, raw_rows, run

from handoff.connectors import salesforce as sf
from handoff.connectors.http import SystemClient
from handoff.extract import runner
from handoff.extract.stream import Window
from handoff.sim.crm import TRICKY_CONTACTS

WINDOW = Window("window", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), advance_cursor=False)


@pytest.fixture
def windowed(monkeypatch, sims, warehouse_url):
    """Runs get the one `window` window; `settings` holds the Bulk settings the client reads."""
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(runner, "compute_window", lambda *a, **k: WINDOW)
    settings = {"bulk_threshold": "10000", "bulk_max_records": "50"}
    original = sf.Client.setting

    def setting(self, name):
        return settings[name] if name in settings else original(self, name)

    monkeypatch.setattr(sf.Client, "setting", setting)
    monkeypatch.setattr(sf.Client, "bulk_page_records", 40)
    return settings


def _bulk_jobs(sims) -> int:
    return sims.servers["salesforce"].bulk.created


def _payloads(url, stream):
    return {k: p for k, (p, _) in raw_rows(url, "salesforce", stream).items()}


def _clear(admin_url, stream):
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM raw_salesforce."{stream}"')


@pytest.mark.parametrize("stream", ["Contact", "Opportunity", "OpportunityLineItem", "User"])
def test_bulk_lands_exactly_what_rest_lands(stream, sims, windowed, warehouse_url, warehouse_admin_url):
    windowed["bulk_threshold"] = "1000000"  # REST
    rest = run("salesforce", stream, warehouse_url)
    assert rest.mode == "window" and _bulk_jobs(sims) == 0
    by_rest = _payloads(warehouse_url, stream)
    deleted_rest = {k for k, (_, d) in raw_rows(warehouse_url, "salesforce", stream).items() if d}
    _clear(warehouse_admin_url, stream)

    windowed["bulk_threshold"] = "1"  # Bulk
    bulk = run("salesforce", stream, warehouse_url)
    assert _bulk_jobs(sims) == 1 and bulk.records == rest.records == len(by_rest)
    by_bulk = _payloads(warehouse_url, stream)
    assert by_bulk.keys() == by_rest.keys()
    for rid, payload in by_rest.items():  # row for row, attributes and JSON types included
        assert by_bulk[rid] == payload, rid
        assert [type(v) for v in by_bulk[rid].values()] == [type(v) for v in payload.values()], rid
    assert {k for k, (_, d) in raw_rows(warehouse_url, "salesforce", stream).items() if d} == deleted_rest
    assert_matches_truth(sims, warehouse_url, "salesforce", stream)
    assert sims.servers["salesforce"].bulk.snapshot()["jobs"] == {}  # the job was deleted after reading


def test_tricky_contacts_land_intact(sims, windowed, warehouse_url):
    windowed["bulk_threshold"] = "1"
    run("salesforce", "Contact", warehouse_url)
    assert _bulk_jobs(sims) == 1
    landed = {(p["FirstName"], p["LastName"], p["Title"]): p for p, d in raw_rows(warehouse_url, "salesforce",
                                                                                  "Contact").values()}
    truth = {r["Id"]: r for r in sims.truth("salesforce", "Contact")["records"]}
    for first, last, title in TRICKY_CONTACTS:
        p = landed[(first, last, title)]
        assert p["Name"] == f"{first} {last}" and p == {"attributes": p["attributes"], **truth[p["Id"]]}
    assert any("\r\n" in t for _, _, t in landed) and any('""' not in t and '"' in t for _, _, t in landed)


def test_failed_job_fails_the_run_and_lands_nothing(sims, windowed, warehouse_url):
    windowed["bulk_threshold"] = "1"
    base = sims.url("salesforce")
    requests.post(f"{base}/__sim/bulk", json={"fail_next": 1}, timeout=5).raise_for_status()
    with pytest.raises(sf.BulkJobFailed) as err:
        run("salesforce", "Contact", warehouse_url)
    msg = str(err.value)
    assert "750SIM" in msg and "Failed" in msg and "timed out" in msg
    assert raw_rows(warehouse_url, "salesforce", "Contact") == {}
    (outcome, error), = query(warehouse_url, "SELECT outcome, error FROM ops.extract_runs WHERE stream = 'Contact'")
    assert outcome == "failed" and "BulkJobFailed" in error and "timed out" in error
    assert query(warehouse_url, "SELECT cursor_ts FROM ops.extract_state WHERE stream = 'Contact'") in ([], [(None,)])
    assert sims.servers["salesforce"].bulk.snapshot()["jobs"] == {}  # the failed job was deleted too
    # the next run (the job works again) lands everything
    run("salesforce", "Contact", warehouse_url)
    assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")


def test_expired_job_mid_read_is_run_again(sims, windowed, warehouse_url, monkeypatch):
    windowed["bulk_threshold"] = "1"
    base = sims.url("salesforce")
    original = SystemClient.send
    seen = {"results": 0}

    def send(self, method, path, *a, **kw):
        resp = original(self, method, path, *a, **kw)
        if path.endswith("/results"):
            seen["results"] += 1
            if seen["results"] == 2:  # Salesforce purges the job between two chunks
                requests.post(f"{base}/__sim/bulk", json={"expire": "all"}, timeout=5).raise_for_status()
        return resp

    monkeypatch.setattr(SystemClient, "send", send)
    sims.advance(24)  # the world moves on between the two jobs' snapshots too
    result = run("salesforce", "Contact", warehouse_url)
    assert _bulk_jobs(sims) == 2
    assert result.records > len(raw_rows(warehouse_url, "salesforce", "Contact"))  # chunks read twice, merged once
    assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")


def test_expired_twice_fails(sims, windowed, warehouse_url, monkeypatch):
    windowed["bulk_threshold"] = "1"
    base = sims.url("salesforce")
    original = SystemClient.send

    def send(self, method, path, *a, **kw):
        resp = original(self, method, path, *a, **kw)
        if path.endswith("/results"):
            requests.post(f"{base}/__sim/bulk", json={"expire": "all"}, timeout=5).raise_for_status()
        return resp

    monkeypatch.setattr(SystemClient, "send", send)
    with pytest.raises(sf.BulkJobExpired, match="no longer exists"):
        run("salesforce", "Contact", warehouse_url)
    assert _bulk_jobs(sims) == 2


def test_count_and_small_windows_stay_on_rest(sims, windowed, warehouse_url):
    from handoff.extract.sources import get_source

    stream = get_source("salesforce").stream("Contact")
    client = get_source("salesforce").client()
    try:
        truth = sims.truth("salesforce", "Contact")
        assert stream.count(client, None, None) == len(truth["records"]) + len(truth["deleted_ids"])
        stamp = sims.cases()["modstamp_ties"]["salesforce.Contact"]
        from handoff.extract.stream import parse_ts
        ts = parse_ts(stamp)
        at = [r for r in truth["records"] if r["SystemModstamp"] == stamp]
        assert stream.count(client, ts, ts + stream.resolution) >= len(at) > 200
    finally:
        client.close()
    windowed["bulk_threshold"] = "10000"  # the default: tiny windows are read through REST
    run("salesforce", "Contact", warehouse_url)
    assert _bulk_jobs(sims) == 0
    assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")


def test_windowed_first_load_reads_windows_through_bulk(sims, warehouse_url, monkeypatch):
    """The runner's windowed first load (its own windows, not the fixture's) over Bulk jobs."""
    connect_env(monkeypatch, sims, warehouse_url)
    original = sf.Client.setting
    monkeypatch.setattr(sf.Client, "setting",
                        lambda self, name: "1" if name == "bulk_threshold" else original(self, name))
    result = run("salesforce", "Contact", warehouse_url, window_records=40)
    assert result.windows >= 2 and _bulk_jobs(sims) >= 2
    expected, _ = assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")
    cursor = query(warehouse_url, "SELECT cursor_ts FROM ops.extract_state WHERE stream = 'Contact'")[0][0]
    newest = max(r["SystemModstamp"] for r in sims.truth("salesforce", "Contact")["records"])
    assert cursor is not None and cursor.strftime("%Y-%m-%dT%H:%M:%S.000+0000") >= newest

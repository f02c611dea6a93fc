"""Retries that never post twice: against the NetSuite simulator's write path and its faults."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import FAST, connect_env

from handoff.connectors import connect
from handoff.connectors.http import OutcomeUnknown, RetriesExhausted
from handoff.platform.connections import env_name, http_connection

TIMEBILL = "services/rest/record/v1/timeBill"


def _timebill(sims) -> dict:
    ns = sims.world.ns
    emp = next(iter(ns["employee"].values()))
    job = next(j for j in ns["job"].values() if j["entitystatus"] != "Closed")
    return {"employee": {"id": str(emp["id"])}, "customer": {"id": str(job["id"])}, "tranDate": "2026-03-02",
            "hours": "1:30", "subsidiary": {"id": str(emp["subsidiary"])}}


@pytest.fixture
def netsuite(make_sims, warehouse_url, monkeypatch):
    sims = make_sims(systems=("netsuite",))
    connect_env(monkeypatch, sims, warehouse_url)
    client = connect("netsuite", FAST)
    client.suiteql("SELECT id FROM subsidiary", limit=1)  # token obtained before any fault
    yield sims, client
    client.close()


@pytest.mark.parametrize("fault", [{"error_5xx": {"next": 1}, "status_5xx": [503]},
                                   {"drop": {"next": 1}}])
def test_a_write_without_idempotency_key_is_never_resent(netsuite, fault):
    sims, client = netsuite
    sims.set_faults("netsuite", {**fault, "paths": "/record/"})
    before = client.requests
    with pytest.raises(OutcomeUnknown, match="not safe to re-send"):
        client.send("POST", TIMEBILL, json=_timebill(sims))
    assert client.requests - before == 1 and client.retries == 0
    assert sims.ledger() == []  # this fault refused it; a real timeout might not have: the caller looks it up


@pytest.mark.parametrize("fault", [{"error_5xx": {"next": 2}, "status_5xx": [503]},
                                   {"drop": {"next": 1}},
                                   {"timeout": {"next": 1}, "timeout_seconds": 2}])
def test_a_write_with_an_idempotency_key_is_retried_to_exactly_one_record(netsuite, fault):
    sims, client = netsuite
    sims.set_faults("netsuite", {**fault, "paths": "/record/"})
    submitted = client.submit_record("timeBill", _timebill(sims), idempotency_key="handoff:kantata:te:1:v1")
    assert submitted.status == 202 and "/async/v1/job/" in submitted.location
    assert client.retries >= 1
    ledger = sims.ledger()
    assert len(ledger) == 1 and ledger[0]["idempotency_key"] == "handoff:kantata:te:1:v1"


def test_a_refusal_is_retried_for_any_write(netsuite):
    """429 proves the system did nothing: even a write without a key is re-sent."""
    sims, client = netsuite
    sims.set_faults("netsuite", {"rate_limit": {"next": 1}, "retry_after": 0, "paths": "/record/"})
    resp = client.send("POST", TIMEBILL, json=_timebill(sims))
    assert resp.status_code == 204 and client.retries == 1
    assert len(sims.ledger()) == 1


def test_reads_sent_as_post_are_retried(netsuite):
    sims, client = netsuite
    sims.set_faults("netsuite", {"error_5xx": {"next": 2}, "paths": "/suiteql"})
    body = client.suiteql("SELECT id FROM subsidiary")
    assert body["items"] and client.retries == 2


def test_idempotency_key_needs_a_system_that_honours_one(make_sims, warehouse_url, monkeypatch):
    sims = make_sims(systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    client = connect("kantata", FAST)
    with pytest.raises(ValueError, match="no idempotency header"):
        client.send("POST", "api/v1/time_entries.json", json={}, idempotency_key="k")
    client.close()


class _CutShort(BaseHTTPRequestHandler):
    """Answers 200 and closes in the middle of a chunked body."""

    protocol_version = "HTTP/1.1"
    calls: list[str] = []

    def _cut(self):
        _CutShort.calls.append(self.command)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"40\r\n{\"Report_Entry\": [{\"Worker_ID\": \"1\"")
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = _cut

    def log_message(self, *args):
        pass


def test_a_body_cut_short_is_reread_for_reads_and_unknown_for_writes(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv(env_name("handoff_workday"), http_connection(url, "user", "pw", conn_type="handoff_workday"))
        client = connect("workday", FAST)
        _CutShort.calls = []
        with pytest.raises(RetriesExhausted):
            client.report("Handoff_Workers")
        assert _CutShort.calls == ["GET"] * FAST.attempts
        _CutShort.calls = []
        with pytest.raises(OutcomeUnknown):
            client.send("POST", "ccx/service/anything", json={"a": 1})
        assert _CutShort.calls == ["POST"]
        client.close()
    finally:
        server.shutdown()

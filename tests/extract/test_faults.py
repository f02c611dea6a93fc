"""Each fault the simulators inject: the load still equals the truth, retries are counted."""

from __future__ import annotations

import pytest
from helpers import FAST, assert_matches_truth, connect_env, live, query, run, truth

from handoff.connectors.http import RetryPolicy, SystemApiError


@pytest.mark.parametrize("source,stream,fault,retries", [
    ("kantata", "time_entries", {"rate_limit": {"next": 2}, "retry_after": 1}, 2),
    ("hubspot", "contacts", {"rate_limit": {"next": 1}, "retry_after": 1}, 1),
    ("salesforce", "Contact", {"rate_limit": {"next": 1}, "retry_after": 1}, 1),  # 403 REQUEST_LIMIT_EXCEEDED
    ("kantata", "time_entries", {"error_5xx": {"next": 3}}, 3),
    ("netsuite", "customer", {"error_5xx": {"next": 2}, "status_5xx": [502]}, 2),
    ("kantata", "time_entries", {"drop": {"next": 2}}, 2),
    ("kantata", "time_entries", {"malformed": {"next": 2}}, 2),
    ("workday", "workers", {"malformed": {"next": 1}}, 1),
    ("kantata", "time_entries", {"timeout": {"next": 1}, "timeout_seconds": 3}, 1),
])
def test_transient_faults_are_retried(source, stream, fault, retries, sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    sims.set_faults(source, fault)
    policy = RetryPolicy(attempts=6, backoff_base=0.01, backoff_cap=0.1, read_timeout=1.0)
    r = run(source, stream, warehouse_url, policy=policy)
    assert r.retries == retries
    assert query(warehouse_url, "SELECT retries, outcome FROM ops.extract_runs WHERE batch_id = %s",
                 r.batch_id) == [(retries, "success")]
    assert_matches_truth(sims, warehouse_url, source, stream)


@pytest.mark.parametrize("source,stream", [("kantata", "time_entries"), ("salesforce", "Account"),
                                           ("netsuite", "job"), ("hubspot", "deals"), ("workday", "workers")])
def test_token_expiry_renews_once(source, stream, sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    from handoff.extract.sources import get_source

    src = get_source(source)
    client = src.client(FAST)
    client.json("GET", "/__sim/health")  # authenticated session exists
    sims.set_faults(source, {"expire_tokens": True})
    import psycopg

    from handoff.extract.runner import ExtractSettings, StreamRunner

    with psycopg.connect(warehouse_url) as conn:  # HubSpot/Workday: one 401, then the same credentials work
        r = StreamRunner(src.stream(stream), client, conn, ExtractSettings()).run()
    assert r.retries == 1
    assert_matches_truth(sims, warehouse_url, source, stream)


def test_unfixable_4xx_fails_with_the_system_message(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    from handoff.extract.sources import get_source

    stream = get_source("workday").stream("organizations")
    monkeypatch.setitem(stream.options, "report", "No_Such_Report")
    with pytest.raises(SystemApiError) as err:
        run("workday", "organizations", warehouse_url)
    assert err.value.status == 404 and err.value.message
    outcome, error = query(warehouse_url, "SELECT outcome, error FROM ops.extract_runs")[0]
    assert outcome == "failed" and "404" in error


def test_persistent_5xx_gives_up_and_keeps_committed_rows(sims, warehouse_url, monkeypatch):
    from handoff.connectors.http import RetriesExhausted

    connect_env(monkeypatch, sims, warehouse_url)
    sims.set_faults("kantata", {"error_5xx": 1.0})
    with pytest.raises(RetriesExhausted):
        run("kantata", "users", warehouse_url)
    sims.clear_faults("kantata")
    run("kantata", "users", warehouse_url)
    assert_matches_truth(sims, warehouse_url, "kantata", "users")


def test_rejected_records_and_schema_drift(sims, warehouse_url, monkeypatch):
    """A renamed required field rejects each record with its reason; an added field is recorded."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "stories", warehouse_url)  # the baseline of fields
    sims.set_faults("kantata", {"drift": {"rename": {"workspace_id": "project_id"}, "add": {"priority": "high"}}})
    from handoff.extract.runlog import RunInfo

    r = run("kantata", "stories", warehouse_url, info=RunInfo(full_refresh=True))
    expected, _ = truth(sims, "kantata", "stories")
    assert r.records == 0 and r.rejects == len(expected) > 0
    reasons = query(warehouse_url, "SELECT DISTINCT reason FROM ops.rejected_records")
    assert reasons == [("workspace_id: Field required",)]
    payload = query(warehouse_url, "SELECT payload FROM ops.rejected_records LIMIT 1")[0][0]
    assert payload["project_id"] and payload["priority"] == "high" and "workspace_id" not in payload
    changes = query(warehouse_url, "SELECT field, change, sample FROM ops.schema_changes ORDER BY field, change")
    assert [(f, c) for f, c, _ in changes] == [("priority", "added"), ("project_id", "added"),
                                               ("workspace_id", "missing")]
    # An added field alone never breaks the load: the payload is kept whole.
    sims.set_faults("kantata", {"drift": {"add": {"priority": "high"}}})
    r = run("kantata", "stories", warehouse_url, info=RunInfo(full_refresh=True))
    assert r.rejects == 0 and r.records == len(expected)
    got = live(warehouse_url, "kantata", "stories")
    assert all(p["priority"] == "high" for p in got.values())
    assert {k: {f: v for f, v in p.items() if f != "priority"} for k, p in got.items()} == expected
    # Re-reading the same bad records does not duplicate the rejects.
    assert query(warehouse_url, "SELECT count(*) FROM ops.rejected_records")[0][0] == len(expected)

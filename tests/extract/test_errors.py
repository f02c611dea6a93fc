"""Errors reach the task failure with the system's message verbatim, and never with a secret."""

from __future__ import annotations

import json
import os

import psycopg
import pytest
from helpers import FAST, connect_env, query, run

from handoff.connectors.http import SystemApiError
from handoff.extract import runner as runner_mod
from handoff.extract.sources import get_source, hubspot

# -- errors: the system's 4xx message verbatim, secrets never ------------------------------------

def _set_extra(monkeypatch, source: str, **extra) -> None:
    var = f"AIRFLOW_CONN_HANDOFF_{source.upper()}"
    conn = json.loads(os.environ[var])
    conn.setdefault("extra", {}).update(extra)
    monkeypatch.setenv(var, json.dumps(conn))


@pytest.mark.parametrize("source,stream,message", [
    ("salesforce", "Account", "No such column 'nosuchfield' on entity 'Account'."),
    ("hubspot", "deals", "limit must be between 1 and 200, got 500"),
    ("kantata", "stories", "'nope' is not a valid include for stories"),
    ("netsuite", "customer", "Search error occurred"),
    ("workday", "organizations", "Report 'ISU_Handoff/No_Such_Report' not found"),
])
def test_4xx_fails_with_the_system_message_verbatim(source, stream, message, sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    s = get_source(source).stream(stream)
    if source == "salesforce":
        _set_extra(monkeypatch, "salesforce", fields_Account="NoSuchField")
    elif source == "hubspot":
        monkeypatch.setattr(hubspot, "SEARCH_LIMIT", 500)
    elif source == "kantata":
        monkeypatch.setitem(s.options, "params", {"include": "nope"})
    elif source == "netsuite":
        monkeypatch.setitem(s.options, "from", "no_such_table")
    else:
        monkeypatch.setitem(s.options, "report", "No_Such_Report")
    with pytest.raises(SystemApiError) as err:
        run(source, stream, warehouse_url)
    assert 400 <= err.value.status < 500 and message in str(err.value)
    outcome, error = query(warehouse_url, "SELECT outcome, error FROM ops.extract_runs")[0]
    assert outcome == "failed" and message in error


def test_secrets_never_reach_errors_or_ops_tables(sims, warehouse_url, monkeypatch):
    """Error text may carry URLs with tokens in their query string, or a token echoed back."""
    connect_env(monkeypatch, sims, warehouse_url)
    secret = sims.credentials.client_secret
    src = get_source("kantata")
    client = src.client(FAST)
    token = client.auth.token
    s = src.stream("stories")
    monkeypatch.setitem(s.options, "params", {"access_token": token, "include": f"nope{secret}"})
    with psycopg.connect(warehouse_url) as conn, pytest.raises(SystemApiError) as err:
        runner_mod.StreamRunner(s, client, conn, runner_mod.ExtractSettings()).run()
    client.close()
    text = str(err.value)
    assert secret not in text and token not in text and "***" in text
    dump = json.dumps(query(warehouse_url, "SELECT * FROM ops.extract_runs"), default=str)
    assert secret not in dump and token not in dump

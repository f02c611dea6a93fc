"""Helpers for extract tests: run a stream against the simulators, read raw, compare to truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from handoff.connectors.http import RetryPolicy, SystemClient
from handoff.extract.runlog import RunInfo
from handoff.extract.runner import ExtractSettings, RunResult, StreamRunner
from handoff.extract.sources import get_source
from handoff.platform.connections import connection_env

# Truth object names per (source, stream) where they differ from the stream name.
TRUTH_NAME = {
    ("workday", "workers"): "Handoff_Workers",
    ("workday", "organizations"): "Handoff_Organizations",
    ("netsuite", "invoice"): "transaction",
    ("netsuite", "customer_payment"): "transaction",
    ("netsuite", "payment_application"): "nexttransactionlinelink",
    ("netsuite", "billing_event"): "customrecord_handoff_billing_event",
}
FAST = RetryPolicy(attempts=6, backoff_base=0.01, backoff_cap=0.1, read_timeout=5.0)


def kill_when_parked(args: list[str], marker: Path, settle: float = 0.0) -> None:
    """Start a child process that parks at its kill point (it creates `marker` there), wait for
    it, optionally `settle` seconds more, then kill -9 it."""
    proc = subprocess.Popen(args, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "child never reached the kill point"
            time.sleep(0.05)
        time.sleep(settle)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def connect_env(monkeypatch, sims, warehouse_url: str) -> None:
    creds = sims.credentials
    env = connection_env({s: sims.url(s) for s in sims.systems}, creds.client_id, creds.client_secret,
                         warehouse_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def run(source: str, stream: str, warehouse_url: str, info: RunInfo | None = None, policy=FAST,
        interval_window: bool = False, **settings) -> RunResult:
    settings.setdefault("lookback", timedelta(0))
    settings.setdefault("reconcile_every", timedelta(0))
    src = get_source(source)
    client = src.client(policy)
    with psycopg.connect(warehouse_url) as conn:
        try:
            return StreamRunner(src.stream(stream), client, conn, ExtractSettings(**settings)).run(
                info, interval_window=interval_window)
        finally:
            client.close()


def raw_rows(warehouse_url: str, source: str, stream: str) -> dict[str, tuple[dict, bool]]:
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(f'SELECT source_id, payload, is_deleted FROM raw_{source}."{stream}"').fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def live(warehouse_url: str, source: str, stream: str) -> dict[str, dict]:
    return {k: p for k, (p, d) in raw_rows(warehouse_url, source, stream).items() if not d}


def query(warehouse_url: str, sql: str, *params):
    with psycopg.connect(warehouse_url) as conn:
        return conn.execute(sql, params).fetchall()


def normalise(source: str, rec: dict) -> dict:
    """Drop wire-only noise so payloads compare with truth records."""
    # wire-only noise; associations the extract inlines (Kantata external references, HubSpot
    # associations) are checked by tests/extract/test_embedded_refs.py, not against truth
    rec = {k: v for k, v in rec.items()
           if k not in ("attributes", "links", "_lastmodified_iso", "external_references", "associations")}
    if source == "netsuite":
        rec.pop("lastmodified", None)
    return json.loads(json.dumps(rec))


def assert_matches_truth(sims, url: str, source: str, stream: str) -> tuple[dict[str, dict], list[str]]:
    """The live raw rows equal the simulator's truth, payload for payload; returns (truth, deleted ids)."""
    expected, deleted = truth(sims, source, stream)
    got = live(url, source, stream)
    assert {k: normalise(source, v) for k, v in got.items()} == \
        {k: normalise(source, v) for k, v in expected.items()}, (source, stream)
    return expected, deleted


def truth(sims, source: str, stream: str) -> tuple[dict[str, dict], list[str]]:
    t = sims.truth(source, TRUTH_NAME.get((source, stream), stream))
    stream_obj = get_source(source).stream(stream)
    records = t["records"]
    where = stream_obj.options.get("where")
    if where:  # e.g. the transaction type filter: "type = 'CustInvc'"
        field, value = where[0].split()[0], where[0].split("'")[1]
        records = [r for r in records if r.get(field) == value]
    key = stream_obj.options.get("key")
    if key and stream_obj.id_field not in (records[0] if records else {}):  # a table without an id column
        return ({":".join(str(r[k]) for k in key): r for r in records},
                [str(i) for i in t["deleted_ids"]])
    return {str(r[stream_obj.id_field]): r for r in records}, [str(i) for i in t["deleted_ids"]]


# -- changing the source between two requests ------------------------------------------------
def after_request(monkeypatch, n: int, action, path_part: str) -> dict:
    """Run `action` (a change in the source) right after the n-th request whose path has `path_part`."""
    original = SystemClient.json
    calls = {"n": 0}

    def json_(self, method, path, **kwargs):
        body = original(self, method, path, **kwargs)
        if path_part in path:
            calls["n"] += 1
            if calls["n"] == n:
                action()
        return body

    monkeypatch.setattr(SystemClient, "json", json_)
    return calls


def kt_set(sims, rid: str, column: str, value) -> None:
    """Change one time entry in the simulator's world between two requests of a walk."""
    w = sims.world
    with w.lock:
        rows = w.te.rows_for_ids([int(rid)])
        getattr(w.te, column)[rows[0]] = value
        w.te.touched()
        w.version += 1


def kt_hard_delete(sims, rid: str) -> None:
    kt_set(sims, rid, "alive", False)


def kt_touch(sims, rid: str, epoch_seconds: int) -> None:
    kt_set(sims, rid, "updated", epoch_seconds)

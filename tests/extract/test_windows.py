"""Windowed loads: a first load, full refresh or catch-up read as concurrent windows lands exactly
the source, while the source changes, and the cursor only covers finished windows."""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from helpers import FAST, connect_env, kill_when_parked, live, query, raw_rows, run, truth

from handoff.extract.runlog import RunInfo
from handoff.extract.runner import ExtractSettings, StreamRunner
from handoff.extract.sources import get_source
from handoff.extract.stream import parse_ts

CHILD = Path(__file__).with_name("window_kill_child.py")
WINDOWED = {"window_records": 400, "window_workers": 4, "commit_records": 500}


def test_windowed_first_load_equals_the_source(make_sims, warehouse_url, monkeypatch):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    result = run("kantata", "time_entries", warehouse_url, **WINDOWED)
    assert result.windows >= 8  # ~5,000 entries in windows of about 400
    assert live(warehouse_url, "kantata", "time_entries") == expected
    assert len(raw_rows(warehouse_url, "kantata", "time_entries")) == len(expected)
    (cursor, extra), = query(warehouse_url, "SELECT cursor_ts, cursor_extra FROM ops.extract_state")
    assert cursor == max(parse_ts(p["updated_at"]) for p in expected.values())
    assert extra.get("windowed") is None  # the plan is cleared once every window is done
    # The windows read the whole newest second: proven, so the tail and the next runs skip it.
    assert extra["proof"] == {"ts": cursor.isoformat(),
                              "count": sum(1 for p in expected.values() if parse_ts(p["updated_at"]) == cursor)}
    # Pages, plus per window about two counts to plan it and two to anchor its walk (a tiny
    # window here: two pages; at the production size of 100 pages this is 4% more requests).
    pages = -(-len(expected) // 200)
    assert result.requests <= pages + 8 * result.windows + 10


def test_windowed_load_while_the_world_changes(make_sims, warehouse_url, monkeypatch):
    """Edits, approvals, new entries and hard deletes during the windowed load: the next
    incremental run with its delete sweep leaves raw equal to the source."""
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    stop = threading.Event()

    def tick():
        while not stop.wait(0.02):
            sims.world.advance(1)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        first = run("kantata", "time_entries", warehouse_url, **WINDOWED)
    finally:
        stop.set()
        ticker.join()
    assert first.windows >= 8
    assert sims.world.tick > 3  # the world moved during the load
    run("kantata", "time_entries", warehouse_url, lookback=timedelta(minutes=10))
    expected, _ = truth(sims, "kantata", "time_entries")
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_full_refresh_is_windowed_and_a_small_catch_up_is_not(make_sims, warehouse_url, monkeypatch):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url, **WINDOWED)
    refresh = run("kantata", "time_entries", warehouse_url, info=RunInfo(full_refresh=True), **WINDOWED)
    assert refresh.windows >= 8 and refresh.mode == "full_refresh"
    sims.world.advance(3)
    # Catch-up rule: only when the last success is old and more than two windows' worth changed.
    quick = run("kantata", "time_entries", warehouse_url, catchup_after=timedelta(0), **WINDOWED)
    assert quick.windows == 0
    expected, _ = truth(sims, "kantata", "time_entries")
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_large_catch_up_is_windowed(make_sims, warehouse_url, monkeypatch):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    # Every entry changes after the cursor (a mass re-rate): a catch-up of 5,000 records.
    w = sims.world
    with w.lock:
        now = int(w.now)
        w.te.updated[:] = [now + 60 + (i % 3000) for i in range(len(w.te.updated))]
        w.te.touched()
        w.version += 1
    catch_up = run("kantata", "time_entries", warehouse_url, catchup_after=timedelta(0), **WINDOWED)
    assert catch_up.windows >= 4
    expected, _ = truth(sims, "kantata", "time_entries")
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_windowed_workers_hold_concurrency_slots(make_sims, warehouse_url, monkeypatch):
    """With a warehouse to share them, windowed workers each hold one of the system's slots:
    never more requests in flight than the connection's `concurrency_limit`."""
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_KANTATA", _with_extra(sims, "kantata", concurrency_limit=3))
    src = get_source("kantata")
    client = src.client(FAST)
    held = []
    from handoff.connectors import limiter as limiter_mod

    original = limiter_mod.Limiter.acquire

    def acquire(self, conn, wait=300.0, poll=0.2):
        slot = original(self, conn, wait, poll)
        with psycopg.connect(warehouse_url) as c:
            held.append(self.held(c))
        return slot

    monkeypatch.setattr(limiter_mod.Limiter, "acquire", acquire)
    with psycopg.connect(warehouse_url) as conn:
        result = StreamRunner(src.stream("time_entries"), client, conn,
                              ExtractSettings(lookback=timedelta(0), **WINDOWED),
                              connect=lambda: psycopg.connect(warehouse_url)).run()
    client.close()
    assert result.windows >= 8
    assert held and max(held) == 3  # the run's own slot and two window workers: never a fourth
    expected, _ = truth(sims, "kantata", "time_entries")
    assert live(warehouse_url, "kantata", "time_entries") == expected


def _with_extra(sims, system: str, **extra) -> str:
    import os

    conn = json.loads(os.environ[f"AIRFLOW_CONN_HANDOFF_{system.upper()}"])
    conn["extra"] = {**conn.get("extra", {}), **extra}
    return json.dumps(conn)


@pytest.mark.parametrize("point", ["in_commit", "mid_window"])
def test_killed_mid_windowed_load_then_resumed(point, make_sims, warehouse_url, monkeypatch, tmp_path):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    marker = tmp_path / "parked"
    kill_when_parked([sys.executable, str(CHILD), point, str(marker), warehouse_url], marker)
    expected, _ = truth(sims, "kantata", "time_entries")
    landed = live(warehouse_url, "kantata", "time_entries")
    assert 0 < len(landed) < len(expected)
    (cursor, extra), = query(warehouse_url, "SELECT cursor_ts, cursor_extra FROM ops.extract_state")
    plan = extra["windowed"]
    assert 1 <= len(plan["done"]) < len(plan["windows"])
    # The cursor covers the contiguous prefix of done windows only (none yet: no cursor), and
    # everything at or below it landed.
    done = set(plan["done"])
    prefix = next(i for i in range(len(plan["windows"]) + 1) if i not in done)
    if prefix == 0:
        assert cursor is None
    else:
        assert cursor == parse_ts(plan["windows"][prefix - 1][1]) - timedelta(seconds=1)
        below = {k: v for k, v in expected.items() if parse_ts(v["updated_at"]) <= cursor}
        assert below and all(landed.get(k) == v for k, v in below.items())

    resumed = run("kantata", "time_entries", warehouse_url, **WINDOWED)
    assert resumed.windows == len(plan["windows"])  # the same plan, resumed
    assert resumed.records < len(expected)  # done windows are not read again
    assert live(warehouse_url, "kantata", "time_entries") == expected
    assert len(raw_rows(warehouse_url, "kantata", "time_entries")) == len(expected)
    assert query(warehouse_url, "SELECT outcome FROM ops.extract_runs ORDER BY started_at") == [
        ("abandoned",), ("success",)]
    assert query(warehouse_url, "SELECT cursor_extra->'windowed' FROM ops.extract_state") == [(None,)]


def test_two_tasks_stay_under_the_systems_limits_together(make_sims, warehouse_url, warehouse_admin_url,
                                                          monkeypatch):
    """Two windowed first loads in two processes against a Kantata that refuses over 20 requests a
    second or 3 in flight: paced through the warehouse, neither ever gets a refusal."""
    import subprocess

    from handoff.warehouse.migrate import migrate

    sims = make_sims(scale="bench:5000", systems=("kantata",),
                     pacing={"kantata": {"limits": {"rate": "20/1", "inflight": {"concurrent": 3}}}})
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_KANTATA",
                       _with_extra(sims, "kantata", rate_limit="20/1", concurrency_limit=3))
    with psycopg.connect(warehouse_admin_url) as conn:
        migrate(conn, [("kantata", "time_entries"), ("kantata", "expenses")])
    child = Path(__file__).with_name("window_task_child.py")
    procs = [subprocess.Popen([sys.executable, str(child), "kantata", stream, warehouse_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for stream in ("time_entries", "expenses")]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    stats = sims.pacing_stats("kantata")["counters"]
    assert stats["refused_total"] == 0, stats
    assert stats["max_in_flight"] <= 3
    assert outs[0]["windows"] >= 8
    assert stats["requests"] >= sum(o["requests"] for o in outs) - 5  # tokens are not paced
    for stream in ("time_entries", "expenses"):
        expected, _ = truth(sims, "kantata", stream)
        assert live(warehouse_url, "kantata", stream) == expected


def test_a_windowed_load_progresses_when_every_other_slot_is_busy(make_sims, warehouse_url, monkeypatch):
    """Other processes hold every slot but the run's own: the first worker reads on the run's slot,
    the others give up waiting, and the load completes within the limit."""
    from handoff.connectors.limiter import Limiter

    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_KANTATA", _with_extra(sims, "kantata", concurrency_limit=3))
    holders = [psycopg.connect(warehouse_url, autocommit=True) for _ in range(2)]
    limiter = Limiter("kantata", 3, lambda: psycopg.connect(warehouse_url))
    held = [limiter.try_acquire(c) for c in holders]
    assert all(held)
    src = get_source("kantata")
    client = src.client(FAST)
    try:
        with psycopg.connect(warehouse_url) as conn:
            result = StreamRunner(src.stream("time_entries"), client, conn,
                                  ExtractSettings(lookback=timedelta(0), lock_wait=timedelta(seconds=1), **WINDOWED),
                                  connect=lambda: psycopg.connect(warehouse_url)).run()
    finally:
        client.close()
        for c in holders:
            c.close()
    assert result.windows >= 8
    expected, _ = truth(sims, "kantata", "time_entries")
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_a_worker_that_cannot_start_fails_the_run(make_sims, warehouse_url, monkeypatch):
    """A window worker whose client cannot be created fails the run with its error (never a hang)."""
    from handoff.connectors.http import SystemClient

    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)

    def clone(self):
        raise RuntimeError("connection handoff_kantata vanished")

    monkeypatch.setattr(SystemClient, "clone", clone)
    with pytest.raises(RuntimeError, match="vanished"):
        run("kantata", "time_entries", warehouse_url, **WINDOWED)
    assert query(warehouse_url, "SELECT outcome FROM ops.extract_runs") == [("failed",)]

"""Request-rate pacing: allowances from the connection, spacing shared by threads and processes."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from handoff.connectors.pacing import (
    DOCUMENTED_RATES,
    HEADROOM,
    Allowance,
    LocalStore,
    Pacer,
    PostgresStore,
    RateLimitConfigError,
    parse_rate_limit,
)
from handoff.warehouse.migrate import migrate


def most_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_rate_limit_setting():
    hubspot = DOCUMENTED_RATES["hubspot"]
    assert parse_rate_limit(None, hubspot) == hubspot
    assert parse_rate_limit("off", hubspot) == ()
    main = parse_rate_limit("100/10", hubspot)
    assert [(a.name, a.requests, a.seconds, a.paths) for a in main] == [
        ("burst", 100, 10.0, None), ("search", 4, 1.0, r"/search$")]
    both = parse_rate_limit("burst=50/10, search=2/1", hubspot)
    assert [(a.requests, a.seconds) for a in both] == [(50, 10.0), (2, 1.0)]
    assert parse_rate_limit("5/1", ()) == (Allowance("rate", 5, 1.0),)
    for bad in ("fast", "0/1", "5/0", "5 per second"):
        with pytest.raises(RateLimitConfigError, match=r"handoff_x: rate_limit must be"):
            parse_rate_limit(bad, hubspot, "handoff_x: ")


def test_allowance_covers_paths():
    search = DOCUMENTED_RATES["hubspot"][1]
    assert search.covers("/crm/v3/objects/contacts/search")
    assert search.covers("/crm/v3/objects/contacts/search?x=1")
    assert not search.covers("/crm/v3/objects/contacts")


def _send_times(pacer: Pacer, n: int, threads: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()

    def go():
        for _ in range(n):
            pacer.before_request("/api/v1/time_entries.json")
            with lock:
                times.append(time.monotonic())

    ts = [threading.Thread(target=go) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return times


def test_threads_of_one_process_share_the_allowance():
    allowance = Allowance("rate", 10, 1.0)
    pacer = Pacer("kantata", (allowance,), LocalStore())
    times = _send_times(pacer, 8, threads=3)  # 24 requests at 9 a second
    assert most_in_any_window(times, 1.0) <= int(10 * HEADROOM) + 1
    assert max(times) - min(times) >= 23 * allowance.interval() * 0.95
    assert pacer.waited > 0


def test_processes_share_the_allowance_through_the_warehouse(warehouse_admin_url):
    """Two pacers on two connections (as two processes would be) never exceed the allowance together."""
    with psycopg.connect(warehouse_admin_url, autocommit=True) as conn:
        migrate(conn, {})
    allowance = Allowance("rate", 20, 1.0)
    pacers = [Pacer("kantata", (allowance,), PostgresStore(lambda: psycopg.connect(warehouse_admin_url)))
              for _ in range(2)]
    times: list[float] = []
    lock = threading.Lock()

    def go(p: Pacer):
        for _ in range(20):
            p.before_request("/api/v1/time_entries.json")
            with lock:
                times.append(time.monotonic())

    ts = [threading.Thread(target=go, args=(p,)) for p in pacers]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(times) == 40
    assert most_in_any_window(times, 1.0) <= int(20 * HEADROOM) + 1
    assert max(times) - min(times) >= 39 * allowance.interval() * 0.9
    with psycopg.connect(warehouse_admin_url) as conn:
        assert conn.execute("SELECT system, allowance FROM ops.api_allowance").fetchall() == [("kantata", "rate")]
    for p in pacers:
        p.store.close()


def test_unmigrated_warehouse_falls_back_to_the_process(warehouse_admin_url):
    pacer = Pacer("kantata", (Allowance("rate", 50, 1.0),),
                  PostgresStore(lambda: psycopg.connect(warehouse_admin_url)))
    times = _send_times(pacer, 5, threads=1)
    assert len(times) == 5 and pacer.store.fell_back == 5


def test_a_thread_that_wakes_late_takes_a_new_turn(monkeypatch):
    """Sent late, a request lands beside the ones scheduled after it: it takes a new turn instead."""
    from handoff.connectors import pacing

    real_sleep = pacing.time.sleep
    oversleep = [0.3]

    class SlowClock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(s):
            real_sleep(s + oversleep.pop() if oversleep else s)

    monkeypatch.setattr(pacing, "time", SlowClock)
    pacer = Pacer("kantata", (Allowance("rate", 10, 1.0),), LocalStore())
    pacer.before_request("/x")  # the first turn is now: no sleep
    pacer.before_request("/x")  # its turn in 0.11 s; the thread wakes 0.3 s late: a new turn
    assert pacer.late_turns == 1

"""Two runs of one stream at once (a manual run alongside a scheduled one)."""

from __future__ import annotations

import threading
import time

from helpers import connect_env, live, query, run, truth

from handoff.extract.sources import get_source

# -- concurrency ---------------------------------------------------------------------------------

def test_two_runs_of_one_stream_do_not_overlap(sims, warehouse_url, monkeypatch):
    """A manual run alongside a scheduled one: the second waits for the stream's lock."""
    connect_env(monkeypatch, sims, warehouse_url)
    cls = type(get_source("kantata").stream("expenses"))
    original = cls.pages
    entered, release = threading.Event(), threading.Event()

    def slow_pages(self, client, window, state):
        for page in original(self, client, window, state):
            if threading.current_thread().name == "first-run" and not release.is_set():
                entered.set()
                release.wait(30)
            yield page

    monkeypatch.setattr(cls, "pages", slow_pages)
    results, errors = {}, []

    def go(name):
        try:
            results[name] = run("kantata", "expenses", warehouse_url, prefetch_pages=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    a = threading.Thread(target=go, args=("a",), name="first-run")
    a.start()
    assert entered.wait(30)
    b = threading.Thread(target=go, args=("b",), name="second-run")
    b.start()
    try:
        # The second run is waiting on the stream's advisory lock (seen in pg_locks), not finished.
        deadline = time.monotonic() + 30
        while query(warehouse_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )[0][0] != 1:
            assert b.is_alive() and time.monotonic() < deadline, "the second run did not wait for the first"
            time.sleep(0.05)
        assert b.is_alive(), "the second run did not wait for the first"
        rows = query(warehouse_url, "SELECT outcome FROM ops.extract_runs")
        assert rows == [("running",)]  # the first is not marked abandoned by the second
    finally:
        release.set()
        a.join(60)
        b.join(60)
    assert not errors, errors
    assert query(warehouse_url, "SELECT outcome FROM ops.extract_runs ORDER BY started_at") == \
        [("success",), ("success",)]
    expected, _ = truth(sims, "kantata", "expenses")
    assert live(warehouse_url, "kantata", "expenses") == expected

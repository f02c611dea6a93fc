"""Hard deletes found from `meta.count` by creation time (handoff.extract.sweep), not a full listing:
requests counted by the simulator itself; deletes made through the world's own API."""

from __future__ import annotations

import math
from datetime import timedelta

import psycopg
import pytest
from helpers import FAST, connect_env, kt_hard_delete, raw_rows, run

from handoff.extract.load import RawLoader, Tombstone
from handoff.extract.runner import DeleteGuardError, ExtractSettings, StreamRunner
from handoff.extract.sources import get_source
from handoff.extract.state import load_state
from handoff.extract.sweep import LEAF, sweep_deletes
from handoff.sim import clock

N = 20_000  # time entries (bench:20000): a full id listing is 100 pages


@pytest.fixture
def entries(make_sims, warehouse_url, monkeypatch):
    """A world of N time entries loaded once through the ordinary StreamRunner."""
    sims = make_sims(scale=f"bench:{N}", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)
    return sims


def sweep(sims, url, stream="time_entries", apply=False, max_delete_share=0.2, **kwargs):
    """One sweep on a fresh connection, as the runner would call it; returns (result, requests the
    simulator served, token request included)."""
    src = get_source("kantata")
    s, client = src.stream(stream), src.client(FAST)
    server = sims.servers["kantata"]
    before = server.requests
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            loader = RawLoader(conn, "kantata", stream)
            state = load_state(conn, "kantata", stream)
            guard = StreamRunner(s, client, conn, ExtractSettings(max_delete_share=max_delete_share))._guard_deletes
            res = sweep_deletes(s, client, loader, state, state.cursor_ts, batch_id="sweep-test", guard=guard,
                                **kwargs)
            if apply and res.gone:
                with conn.transaction():
                    loader.apply_tombstones([Tombstone(i, None) for i in res.gone], "sweep-test")
    finally:
        client.close()
    served = server.requests - before
    assert served <= res.requests + 1  # the client's own count: all but the token request
    return res, served


def by_created(url, stream="time_entries") -> list[str]:
    rows = raw_rows(url, "kantata", stream)
    return [k for k, (p, d) in sorted(rows.items(), key=lambda kv: (kv[1][0]["created_at"], int(kv[0]))) if not d]


def bound(n: int, k: int) -> int:
    """Requests a sweep of counts alone may spend for k deletes among n rows: the first count; per
    delete one count per halving down to LEAF rows (raw's median splits: +1 for uneven seconds)
    and a leaf listed (at most LEAF/200 pages); one `only=` confirmation per 100."""
    depth = math.ceil(math.log2(n / LEAF)) + 1
    return 1 + k * (depth + LEAF // 200) + math.ceil(k / 100)


def test_hard_deletes_anywhere_cost_a_few_counts(entries, warehouse_url):
    ids = by_created(warehouse_url)
    full = math.ceil(len(ids) / 200)
    gone = sorted([ids[3], ids[len(ids) // 2], ids[-40]])  # oldest, middle, recent work
    for i in gone:
        kt_hard_delete(entries, i)

    res, served = sweep(entries, warehouse_url, apply=True, recent=timedelta(0), slices=0)
    assert res.gone == gone and res.lacking == [] and res.deletes == 3
    assert served <= bound(len(ids), 3) < full // 2, (served, bound(len(ids), 3), full)
    rows = raw_rows(warehouse_url, "kantata", "time_entries")
    assert sorted(k for k, (_, d) in rows.items() if d) == gone

    again, served = sweep(entries, warehouse_url, recent=timedelta(0), slices=0)
    assert again.gone == [] and again.missing == [] and served <= 2  # one count (and the token)


def test_nothing_deleted_costs_a_handful_with_the_rotation(entries, warehouse_url):
    """Default settings: one count, the recent day, one of 96 slices of older history."""
    res, served = sweep(entries, warehouse_url)
    slice_pages = math.ceil(N / 96 / 200) + 1  # a slice ends on a whole second
    assert res.gone == [] and res.missing == [] and res.counts == 1
    assert res.rotation is not None and res.rotation[0] is None and not res.wrapped
    assert served <= 1 + 1 + 2 + slice_pages + 1, served  # token, count, recent day, slice
    assert served < N // 200 // 10


def test_records_raw_lacks_are_reported_and_nothing_is_marked(entries, warehouse_url, warehouse_admin_url):
    ids = by_created(warehouse_url)
    lost, marked = ids[100], ids[len(ids) * 2 // 3]
    with psycopg.connect(warehouse_admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM raw_kantata.time_entries WHERE source_id = %s", (lost,))
        conn.execute("UPDATE raw_kantata.time_entries SET is_deleted = true WHERE source_id = %s", (marked,))
    before = raw_rows(warehouse_url, "kantata", "time_entries")

    res, served = sweep(entries, warehouse_url, apply=True, recent=timedelta(0), slices=0)
    assert res.lacking == sorted([lost, marked]) and res.gone == [] and res.missing == []
    assert len(res.lacking_ranges) == 2
    assert served <= bound(len(ids), 2)
    assert raw_rows(warehouse_url, "kantata", "time_entries") == before  # reported only


def test_soft_deleted_stories_are_not_hard_deletes(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "stories", warehouse_url)
    w = sims.world
    # stories created before the horizon (the cursor: the world's now; 42 tiny stories are created at it)
    older = [r["id"] for r in w.kt["stories"].values() if clock.parse_ts(r["created_at"]) < w.now]
    soft, hard, soft_then_hard = sorted(older, key=int)[5:8]
    with w.lock:
        for rid in (soft, soft_then_hard):
            w.kt_touch("stories", rid, w.now, deleted_at=clock.kt_datetime(w.now))
        w.version += 1

    # raw still holds the soft-deleted stories live: the listing (live stories only) lacks them,
    # and `only=` with show_deleted finds them: not hard deletes
    res, _ = sweep(sims, warehouse_url, "stories", recent=timedelta(0), slices=0)
    assert res.missing == sorted([soft, soft_then_hard], key=str) and res.gone == []

    run("kantata", "stories", warehouse_url)  # the incremental run reads the soft deletes
    rows = raw_rows(warehouse_url, "kantata", "stories")
    assert rows[soft][1] and rows[soft_then_hard][1]
    res, served = sweep(sims, warehouse_url, "stories", recent=timedelta(0), slices=0)
    assert res.missing == [] and res.gone == [] and served <= 2

    with w.lock:
        w.kt["stories"].remove(hard)
        w.kt["stories"].remove(soft_then_hard)
        w.version += 1
    res, _ = sweep(sims, warehouse_url, "stories", apply=True, recent=timedelta(0), slices=0)
    assert res.gone == [hard] and res.lacking == []
    res, served = sweep(sims, warehouse_url, "stories", recent=timedelta(0), slices=0)
    assert res.missing == [] and served <= 2  # the soft-then-hard delete leaves no lasting difference


def test_rotation_lists_all_history_in_n_sweeps_and_finds_balanced_changes(entries, warehouse_url,
                                                                          warehouse_admin_url):
    """A delete balanced by a record raw lacks leaves every count equal; the rotation finds both."""
    ids = by_created(warehouse_url)
    deleted, lost = ids[len(ids) // 2], ids[len(ids) // 2 + 1]
    kt_hard_delete(entries, deleted)
    with psycopg.connect(warehouse_admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM raw_kantata.time_entries WHERE source_id = %s", (lost,))

    slices, ranges, found, lacking = 4, [], [], []
    for n in range(slices):  # noqa: B007 (n is checked after the loop)
        res, served = sweep(entries, warehouse_url, recent=timedelta(hours=1), slices=slices)
        assert res.counts <= 1  # counts are equal: no bisection
        ranges.append(res.rotation)
        found += res.gone
        lacking += res.lacking
        assert served <= 1 + 1 + 2 + math.ceil(N / slices / 200) + 2 + 1
        if res.wrapped:
            break
    assert res.wrapped and n >= slices - 2  # a pass took about `slices` sweeps
    assert ranges[0][0] is None and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    with psycopg.connect(warehouse_url) as conn:
        horizon = load_state(conn, "kantata", "time_entries").cursor_ts.replace(microsecond=0)
    assert ranges[-1][1] == horizon - timedelta(hours=1)  # the rest is the recent work, every sweep
    assert found == [deleted] and lacking == [lost]

    with psycopg.connect(warehouse_url) as conn:
        rotation = load_state(conn, "kantata", "time_entries").extra["rotation"]
    assert rotation["next"] is None and rotation["passes"] == 1
    res, _ = sweep(entries, warehouse_url, recent=timedelta(hours=1), slices=slices)
    assert res.rotation[0] is None  # the next pass starts again at the oldest


def test_guard_refuses_a_mass_delete(entries, warehouse_url):
    ids = by_created(warehouse_url)
    doomed = ids[: len(ids) * 3 // 10]
    w = entries.world
    with w.lock:
        w.te.alive[w.te.rows_for_ids([int(i) for i in doomed])] = False
        w.te.touched()
        w.version += 1
    with psycopg.connect(warehouse_url) as conn:
        rotation_before = load_state(conn, "kantata", "time_entries").extra.get("rotation")

    with pytest.raises(DeleteGuardError, match="delete sweep"):
        sweep(entries, warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        assert load_state(conn, "kantata", "time_entries").extra.get("rotation") == rotation_before
    assert not any(d for _, d in raw_rows(warehouse_url, "kantata", "time_entries").values())

    res, served = sweep(entries, warehouse_url, apply=True, max_delete_share=0.5)  # the deletes are real
    assert res.gone == sorted(doomed) and served < 2 * math.ceil(N / 200)


def test_the_runners_sweep_finds_deletes_by_counts(entries, warehouse_url):
    """The scheduled run that sweeps (reconcile cadence due) finds hard deletes through the count
    sweep: exactly the deleted ids, for a fraction of the full listing's 100 pages."""
    held = sorted(raw_rows(warehouse_url, "kantata", "time_entries"), key=int)
    gone = [held[10], held[len(held) // 2], held[-300]]
    for rid in gone:
        kt_hard_delete(entries, rid)
    r = run("kantata", "time_entries", warehouse_url, reconcile_every=timedelta(0), lookback=timedelta(minutes=10))
    assert r.swept and r.deletes == 3
    rows = raw_rows(warehouse_url, "kantata", "time_entries")
    assert sorted(k for k, (_, deleted) in rows.items() if deleted) == sorted(gone)
    assert 0 < r.sweep_requests < 100 // 2

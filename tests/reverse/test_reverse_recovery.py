"""Failures between the ERP and the ledger, and runs at once: a process killed after NetSuite
accepted and before the ledger committed, two syncs at once, the shared concurrency slots."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from helpers import FAST, kill_when_parked
from reverse_helpers import PREFIX, assert_exactly_once, edit, events, ledger, outbox, sim_requests, states

from handoff.connectors import connect
from handoff.connectors.limiter import Limiter
from handoff.reverse import sync

CHILD = Path(__file__).with_name("reverse_kill_child.py")


def _kill_mid_run(world, tmp_path, after: int) -> None:
    marker = tmp_path / "parked"
    # settle: let the other workers reach the kill point too
    kill_when_parked([sys.executable, str(CHILD), str(after), str(marker), world.loader_url, PREFIX], marker,
                     settle=0.3)


@pytest.mark.parametrize("phase", ["create", "update"])
def test_killed_after_the_erp_accepted_is_recovered_without_a_second_posting(world, netsuite, tmp_path, phase):
    postable = [r for r in outbox(world) if r["is_postable"]]
    if phase == "update":
        sync(world.loader_url, netsuite, schema_prefix=PREFIX)
        for r in postable[:12]:
            edit(world, r["time_entry_id"], hours=float(r["hours"]) + 0.25)
    _kill_mid_run(world, tmp_path, after=5)

    stuck = ledger(world, state="in_flight")
    accepted = {e["idempotency_key"] for e in world.sims.ledger()}
    unrecorded = [r for r in stuck if r["send_key"] in accepted]
    assert unrecorded, "NetSuite accepted postings the ledger does not know as posted"
    time.sleep(2.2)  # the dead process's leases expire

    sent = len(world.sims.ledger())
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX, run_id="after-kill")
    assert summary["recovered"] == len(unrecorded) if phase == "create" else summary.get("updated", 0) >= len(unrecorded)
    for r in unrecorded:
        row = ledger(world, posting_id=r["posting_id"])[0]
        assert row["state"] == "posted" and row["erp_id"]
        trail = events(world, r["posting_id"])
        assert any("lease of" in e["detail"] and "expired" in e["detail"] for e in trail)
    # the recovered postings were not accepted a second time
    assert {e["idempotency_key"] for e in world.sims.ledger()[sent:]}.isdisjoint(r["send_key"] for r in unrecorded)
    expected = {("create", "posted"): len(postable)} if phase == "create" else {
        ("create", "posted"): len(postable) - 12, ("create", "superseded"): 12, ("update", "posted"): 12}
    assert {k: v for k, v in states(world).items() if k[1] != "dead_lettered"} == expected
    assert_exactly_once(world)


def test_two_runs_at_once_post_each_row_once(world, netsuite, monkeypatch):
    """Both runs plan the same rows; the claim hands each to one of them. Together they hold at
    most the account's 15 slots, so NetSuite never answers 429."""
    world.sims.set_faults("netsuite", {"slow": 1.0, "slow_seconds": 0.02, "paths": "/record/"})
    clients = [connect("netsuite", FAST) for _ in range(2)]
    results, errors = {}, []

    def run(n):
        try:
            results[n] = sync(world.loader_url, clients[n], schema_prefix=PREFIX, concurrency=10, run_id=f"run{n}")
        except BaseException as exc:
            errors.append(exc)

    before = sim_requests(world)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    postable = sum(r["is_postable"] for r in outbox(world))
    assert sum(r.get("created", 0) for r in results.values()) == postable
    assert all(r.get("created", 0) > 0 for r in results.values()), results  # both really posted
    assert sim_requests(world) - before == postable  # no row sent twice
    assert sum(r["retries"] for r in results.values()) == 0  # never over the account's limit
    assert sum(r["workers"] for r in results.values()) <= 20
    assert states(world)[("create", "posted")] == postable
    assert_exactly_once(world)
    for c in clients:
        c.close()


def test_limiter_slots_are_shared_by_connections_and_freed_by_a_dead_one(world):
    limiter = Limiter("netsuite", 2, lambda: psycopg.connect(world.loader_url, autocommit=True))
    conns = [psycopg.connect(world.loader_url, autocommit=True) for _ in range(3)]
    try:
        a, b = limiter.try_acquire(conns[0]), limiter.try_acquire(conns[1])
        assert a and b and {a.number, b.number} == {0, 1}
        assert limiter.try_acquire(conns[2]) is None
        assert limiter.held(conns[2]) == 2
        assert Limiter("hubspot", 2, None).try_acquire(conns[2]) is not None  # other systems: other slots
        conns[0].close()  # a killed process's connection: its slot is free again
        assert limiter.acquire(conns[2], wait=5) is not None
    finally:
        for c in conns:
            c.close()

"""Reverse sync against a real warehouse and the NetSuite simulator over HTTP.

One tiny world is extracted and built by dbt once per session (schemas `rv_*`, apart from the
session's default world). Each test gets that warehouse reset to as-built (empty ledger, the
outbox tables as dbt wrote them) and simulators of its own at the world's seed and tick (a fresh
NetSuite, empty ledger): a clone per test costs a DROP DATABASE (2 s under load) each.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "extract"))

from dbt_world import make_dbt_world, pytest_terminal_summary  # noqa: E402,F401  (registered by import)

PREFIX = "rv_"
OUTBOXES = ("outbox_time_entries", "outbox_billing_events")


@pytest.fixture(scope="session")
def reverse_world(make_dbt_world):  # noqa: F811 (the imported fixture)
    """The session's tiny world, built once, with a copy of its outbox tables as built."""
    world = make_dbt_world(scale="tiny", prefix=PREFIX)
    world.query(f"CREATE SCHEMA {PREFIX}as_built")
    for table in OUTBOXES:
        world.query(f"CREATE TABLE {PREFIX}as_built.{table} AS TABLE {PREFIX}outbox.{table}")
    world.sims.stop()  # each test starts its own
    return world


@pytest.fixture
def world(reverse_world, sim_credentials):
    """The session's world, reset: empty ledger, outbox as built, new simulators."""
    from handoff.sim import SimCluster

    w = reverse_world
    w.query("TRUNCATE ops.erp_posting_events, ops.erp_postings RESTART IDENTITY")
    for table in OUTBOXES:
        w.query(f"TRUNCATE {PREFIX}outbox.{table}")
        w.query(f"INSERT INTO {PREFIX}outbox.{table} SELECT * FROM {PREFIX}as_built.{table}")
    sims = SimCluster(seed=w.seed, scale=w.scale, credentials=sim_credentials).start()
    try:
        if w.sims.tick:
            sims.advance(w.sims.tick)
        yield dataclasses.replace(w, sims=sims)
    finally:
        sims.stop()


@pytest.fixture
def netsuite(world, monkeypatch):
    """A NetSuite client on the world's simulator (fast retries), its token fetched before any fault."""
    from helpers import FAST, connect_env

    from handoff.connectors import connect

    connect_env(monkeypatch, world.sims, world.loader_url)
    client = connect("netsuite", FAST)
    client.suiteql("SELECT id FROM subsidiary", limit=1)
    yield client
    client.close()

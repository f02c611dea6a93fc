"""Reverse sync against a real warehouse and the NetSuite simulator over HTTP.

One tiny world is extracted and built by dbt once per session (schemas `rv_*`, apart from the
session's default world); each test gets a clone of it (its own database, ledger and simulators:
a fresh NetSuite with an empty ledger) and a NetSuite client on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "extract"))

from dbt_world import make_dbt_world, pytest_terminal_summary  # noqa: E402,F401  (registered by import)

PREFIX = "rv_"


@pytest.fixture(scope="session")
def reverse_world(make_dbt_world):  # noqa: F811 (the imported fixture)
    """The session's tiny world, built once; tests use clones of it."""
    return make_dbt_world(scale="tiny", prefix=PREFIX)


@pytest.fixture
def world(make_dbt_world, reverse_world):  # noqa: F811
    return make_dbt_world(clone_of=reverse_world)


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

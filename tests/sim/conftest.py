"""Fixtures: a shared read-only tiny cluster, and fresh clusters for tests that change state."""

from __future__ import annotations

import pytest
import requests

from handoff.sim import SimCluster, SimCredentials

CREDS = SimCredentials(client_id="test-id", client_secret="test-secret")
# Kantata list flags that show what it hides by default: archived workspaces and their data, and
# soft-deleted stories (a client that wants everything sends them, as the extract does).
KT_ALL = {"workspaces": {"include_archived": "true"},
          "time_entries": {"from_archived_workspaces": "true"},
          "expenses": {"from_archived_workspaces": "true"},
          "stories": {"show_archived": "true", "show_deleted": "true", "show_from_archived_workspaces": "true"},
          "users": {}}


class Clients:
    """Authenticated `requests` sessions per system, speaking each one's auth flow."""

    def __init__(self, cluster: SimCluster):
        self.c = cluster

    def token(self, system: str) -> str:
        path = {"salesforce": "/services/oauth2/token", "kantata": "/oauth/token",
                "netsuite": "/services/rest/auth/oauth2/v1/token"}[system]
        r = requests.post(self.c.url(system) + path, data={"grant_type": "client_credentials",
                                                          "client_id": CREDS.client_id,
                                                          "client_secret": CREDS.client_secret}, timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def session(self, system: str) -> requests.Session:
        s = requests.Session()
        if system == "hubspot":
            s.headers["Authorization"] = f"Bearer {CREDS.client_secret}"
        elif system == "workday":
            s.auth = (CREDS.client_id, CREDS.client_secret)
        else:
            s.headers["Authorization"] = f"Bearer {self.token(system)}"
        if system == "netsuite":
            s.headers["Prefer"] = "transient"
        return s


@pytest.fixture(scope="session")
def cluster():
    with SimCluster(seed=7, scale="tiny", credentials=CREDS) as c:
        yield c


@pytest.fixture(scope="session")
def clients(cluster):
    return Clients(cluster)


@pytest.fixture
def fresh():
    """A private cluster for tests that set faults, write or advance the clock."""
    with SimCluster(seed=11, scale="tiny", credentials=CREDS) as c:
        yield c, Clients(c)

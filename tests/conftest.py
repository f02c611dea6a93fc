"""Shared fixtures: a real PostgreSQL cluster, real simulators, a real Airflow metadata DB.

The cluster starts in `pytest_configure`, before any test module is imported, on a free port in
a fresh temporary folder, so Airflow's configuration (read at import) already points at it and
nothing that ran before on this machine matters. It is stopped and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from handoff.platform import bootstrap
from handoff.platform.airflow_env import scratch_airflow_environment
from handoff.platform.connections import connection_env
from handoff.platform.postgres import LocalPostgres, free_port
from handoff.platform.secrets import generate

_STATE: dict = {}


class TestPostgres:
    """The session's cluster: superuser over trust auth on loopback."""

    def __init__(self, cluster: LocalPostgres):
        self.cluster = cluster
        self.admin_url = cluster.url("postgres")

    def url(self, dbname: str) -> str:
        return self.cluster.url(dbname)

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or _STATE:
        return
    root = Path(tempfile.mkdtemp(prefix="handoff-test-pg-"))
    cluster = LocalPostgres(root=root, port=free_port())
    cluster.init()
    cluster.start()
    _STATE.update(root=root, cluster=cluster)
    bootstrap.bootstrap(cluster.url("postgres"), {}, warehouse_db="handoff", airflow_db="airflow")
    airflow_home = root / "airflow-home"
    airflow_home.mkdir()
    os.environ.update(scratch_airflow_environment(airflow_home, cluster.url("airflow"), api_port=free_port()))


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster: LocalPostgres | None = _STATE.pop("cluster", None)
    if "airflow.settings" in sys.modules:  # close Airflow's pool before its server goes away
        sys.modules["airflow.settings"].dispose_orm()
    if cluster is not None:
        cluster.stop(mode="immediate")
        shutil.rmtree(_STATE.pop("root"), ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> TestPostgres:
    return TestPostgres(_STATE["cluster"])


@pytest.fixture
def warehouse_db(pg: TestPostgres):
    """A fresh, empty warehouse database for one test, with the platform's grants."""
    name = pg.create_database("wh")
    bootstrap.grant_warehouse(pg.url(name), name)
    yield name
    pg.drop_database(name)


@pytest.fixture
def warehouse_url(pg: TestPostgres, warehouse_db: str) -> str:
    """The loader role's URL on the test's warehouse: what the extract DAGs connect as."""
    return pg.cluster.url(warehouse_db, user=bootstrap.ROLES["loader"])


@pytest.fixture
def warehouse_admin_url(pg: TestPostgres, warehouse_db: str) -> str:
    return pg.url(warehouse_db)


@pytest.fixture
def sim_credentials():
    from handoff.sim import SimCredentials

    secrets = generate()
    return SimCredentials(client_id=secrets["sim_client_id"], client_secret=secrets["sim_client_secret"])


@pytest.fixture
def make_sims(sim_credentials):
    """Factory of started simulator clusters on free ports; all stopped at teardown."""
    from handoff.sim import SimCluster

    started = []

    def make(**kwargs):
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("scale", "tiny")
        kwargs.setdefault("credentials", sim_credentials)
        cluster = SimCluster(**kwargs)
        cluster.start()
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        cluster.stop()


@pytest.fixture
def sims(make_sims):
    return make_sims()


class AirflowEnv:
    """A migrated Airflow metadata DB; `connect` points the connections at one test's world."""

    home = property(lambda self: Path(os.environ["AIRFLOW_HOME"]))

    def connect(self, sims, warehouse_url: str, credentials=None) -> dict[str, str]:
        creds = credentials or sims.credentials
        env = connection_env({s: sims.url(s) for s in sims.SYSTEMS}, creds.client_id, creds.client_secret,
                             warehouse_url)
        os.environ.update(env)
        return env


@pytest.fixture(scope="session")
def airflow_env() -> AirflowEnv:
    proc = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return AirflowEnv()

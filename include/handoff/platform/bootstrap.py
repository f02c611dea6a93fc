"""Databases and roles on a cluster: Airflow's metadata DB and the warehouse.

Roles: `handoff_loader` writes raw_* and ops (extract, reverse sync), `handoff_transformer`
builds dbt schemas and reads raw_*, `handoff_analyst` reads marts only. Idempotent: safe to run
on every `handoff up`.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

WAREHOUSE_DB = "handoff"
AIRFLOW_DB = "airflow"
AIRFLOW_ROLE = "airflow"
ROLES = {"loader": "handoff_loader", "transformer": "handoff_transformer", "analyst": "handoff_analyst"}


def _ensure_role(cur: psycopg.Cursor, role: str, password: str | None) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    stmt = sql.SQL("{} ROLE {} LOGIN").format(sql.SQL(verb), sql.Identifier(role))
    if password:
        stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
    cur.execute(stmt)


def _ensure_database(cur: psycopg.Cursor, name: str, owner: str) -> None:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if not cur.fetchone():
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))


def bootstrap(admin_url: str, passwords: dict[str, str | None], warehouse_db: str = WAREHOUSE_DB,
              airflow_db: str | None = AIRFLOW_DB) -> None:
    """Create roles and databases. `passwords` maps loader/transformer/analyst/airflow_db."""
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        for key, role in ROLES.items():
            _ensure_role(cur, role, passwords.get(key))
        if airflow_db:
            _ensure_role(cur, AIRFLOW_ROLE, passwords.get("airflow_db"))
            _ensure_database(cur, airflow_db, AIRFLOW_ROLE)
        _ensure_database(cur, warehouse_db, "postgres")
    grant_warehouse(admin_url.rsplit("/", 1)[0] + f"/{warehouse_db}", warehouse_db)


def grant_warehouse(warehouse_admin_url: str, warehouse_db: str = WAREHOUSE_DB) -> None:
    """Database-level grants; schema-level ones come with each schema (handoff.warehouse, dbt grants)."""
    db = sql.Identifier(warehouse_db)
    with psycopg.connect(warehouse_admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        cur.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        for role in ROLES.values():
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))
        for role in (ROLES["loader"], ROLES["transformer"]):
            # CREATE for their schemas; TEMPORARY for COPY staging tables and dbt's temp relations.
            cur.execute(sql.SQL("GRANT CREATE, TEMPORARY ON DATABASE {} TO {}").format(db, sql.Identifier(role)))

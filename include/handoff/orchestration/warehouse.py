"""The warehouse connection every DAG family uses (`handoff_warehouse`, the loader role)."""

from __future__ import annotations

WAREHOUSE_CONN_ID = "handoff_warehouse"


def warehouse_connection():
    """A psycopg 3 connection from the `handoff_warehouse` Airflow connection."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).get_conn()

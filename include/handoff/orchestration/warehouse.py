"""The warehouse connection every DAG family uses (`handoff_warehouse`, the loader role)."""

from __future__ import annotations

from handoff.platform.connections import WAREHOUSE_CONN_ID

__all__ = ["WAREHOUSE_CONN_ID", "warehouse_connection"]


def warehouse_connection():
    """A psycopg 3 connection from the `handoff_warehouse` Airflow connection."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).get_conn()

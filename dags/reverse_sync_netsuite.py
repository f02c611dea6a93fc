"""Airflow DAG reverse_sync_netsuite: the outbox posted to NetSuite exactly once. Logic lives in handoff.reverse."""

from handoff.reverse.dag import build_sync_dag

dag = build_sync_dag()

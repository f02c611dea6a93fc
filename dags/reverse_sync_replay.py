"""Airflow DAG reverse_sync_replay: NetSuite dead letters replayed from a params form. Logic lives in handoff.reverse."""

from handoff.reverse.dag import build_replay_dag

dag = build_replay_dag()

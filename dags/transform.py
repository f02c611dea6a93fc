"""Airflow DAG transform: dbt models rebuilt from what landed in raw. Logic lives in handoff.transform."""

from handoff.transform.dag import build_dag

dag = build_dag()

"""Airflow DAG extract_workday: pulls workday into raw_workday. Logic lives in handoff.extract (see its doc_md)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("workday")

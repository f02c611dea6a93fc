"""Airflow DAG extract_hubspot: pulls hubspot into raw_hubspot. Logic lives in handoff.extract (see its doc_md)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("hubspot")

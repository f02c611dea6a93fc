"""Airflow DAG extract_salesforce: pulls salesforce into raw_salesforce. Logic lives in handoff.extract (see its doc_md)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("salesforce")

"""Airflow DAG extract_netsuite: pulls netsuite into raw_netsuite. Logic lives in handoff.extract (see its doc_md)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("netsuite")

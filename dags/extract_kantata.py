"""Airflow DAG extract_kantata: pulls kantata into raw_kantata. Logic lives in handoff.extract (see its doc_md)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("kantata")

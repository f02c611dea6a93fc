"""Extract salesforce into raw_salesforce (logic: handoff.extract)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("salesforce")

"""Extract netsuite into raw_netsuite (logic: handoff.extract)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("netsuite")

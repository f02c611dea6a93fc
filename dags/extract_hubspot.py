"""Extract hubspot into raw_hubspot (logic: handoff.extract)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("hubspot")

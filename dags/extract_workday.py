"""Extract workday into raw_workday (logic: handoff.extract)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("workday")

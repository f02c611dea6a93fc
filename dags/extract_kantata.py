"""Extract kantata into raw_kantata (logic: handoff.extract)."""

from handoff.extract.dag_factory import build_dag

dag = build_dag("kantata")

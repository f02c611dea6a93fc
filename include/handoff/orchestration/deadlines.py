"""Deadline alerts (Airflow 3's replacement for SLAs): a run not finished in time is logged by
the triggerer as "deadline missed", naming the DAG and the run."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

log = logging.getLogger(__name__)


async def missed_deadline(dag_id: str, seconds: float, what: str, **kwargs) -> None:
    """Deadline callback (runs in the triggerer)."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") or {}
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", None)
    log.warning("%s deadline missed: %s run %s has not finished %.0f s after it was queued; "
                "check the task logs and the ops tables", what, dag_id, run_id, seconds)


def deadlines_enabled() -> bool:
    """HANDOFF_DEADLINES=off (or the older HANDOFF_EXTRACT_DEADLINES=off) drops deadline alerts.

    Off is for `airflow dags test` / `dag.test()`: Airflow 3.3.2's dag.test() ends with
    "can't adapt type 'dict'" on any DAG with a deadline (it looks alerts up by their serialized
    form instead of their id) after every task has run. The scheduler path is unaffected.
    """
    value = os.environ.get("HANDOFF_DEADLINES", os.environ.get("HANDOFF_EXTRACT_DEADLINES", "on"))
    return value.lower() not in ("off", "false", "0")


def run_deadline(dag_id: str, interval: timedelta, what: str) -> DeadlineAlert | None:
    """Alert when a run of `dag_id` has not finished `interval` after it was queued."""
    if not deadlines_enabled():
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(missed_deadline, kwargs={"dag_id": dag_id, "seconds": interval.total_seconds(),
                                                         "what": what}),
        name=f"{dag_id}_deadline",
    )

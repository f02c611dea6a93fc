"""The WATCHER producer of the transform DAG: one `dbt build` of this cycle's plan.

Cosmos' `DbtProducerWatcherOperator` runs one `dbt build` and publishes each node's status as it
finishes; one sensor task per model (and per model's tests) turns that status into the model's
task state in the UI. Two things cosmos does not do, added here:

- the selection comes from the cycle's plan (the `plan` task's XCom), decided at run time from
  what changed, not at parse time; a plan that builds nothing runs no dbt at all;
- a node the build did not touch (not selected) gets the status "skipped": cosmos' sensors in
  reschedule mode would otherwise poke until they time out (only its deferrable trigger treats
  "producer done, no status" as done). Unselected models are mostly skipped before they start
  (the plan skips unselected root models and skips cascade, see `dag.py`); this covers the rest:
  every model task after a manual selection, and a root the plan followed that dbt did not build.

Each cycle's outcome, what was built and what failed, goes into `ops.transform_runs`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.base import BaseConsumerSensor
from cosmos.operators._watcher.state import get_status_xcom_key, safe_xcom_push
from cosmos.operators.watcher import DbtProducerWatcherOperator

from handoff.orchestration.warehouse import warehouse_connection
from handoff.transform.selection import CHANGED, FAILED, SUCCESS, Plan, finish_run

log = logging.getLogger(__name__)

PLAN_TASK_ID = "plan"
PLAN_XCOM_KEY = "plan"
BUILT = ("success", "pass")
NOT_FAILED = (*BUILT, "warn", "skipped", "no-op")
EXCLUDE_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


class TransformProducer(DbtProducerWatcherOperator):
    """Not constructed directly: `adopt` turns the producer cosmos rendered into one of these."""

    @classmethod
    def adopt(cls, producer: DbtProducerWatcherOperator) -> TransformProducer:
        if not isinstance(producer, DbtProducerWatcherOperator):
            raise TypeError(f"expected cosmos' watcher producer, got {type(producer).__name__}")
        producer.__class__ = cls
        return producer  # type: ignore[return-value]

    # -- node statuses ------------------------------------------------------------------------
    def _make_parse_callable(self):
        inner = super()._make_parse_callable()
        seen = self.__dict__.setdefault("_node_results", {})

        def parse(line: str, extra_kwargs: Any) -> None:
            inner(line, extra_kwargs)
            try:
                node = (json.loads(line).get("data") or {}).get("node_info") or {}
            except (ValueError, AttributeError):
                return
            if node.get("unique_id") and node.get("node_status") and node.get("node_finished_at"):
                seen[node["unique_id"]] = node["node_status"]

        return parse

    def _consumers(self) -> list[BaseConsumerSensor]:
        return [t for t in self.dag.tasks if isinstance(t, BaseConsumerSensor)
                and getattr(t, "producer_task_id", None) == self.task_id]

    def _mark_untouched(self, ti, plan: Plan) -> int:
        """Publish "skipped" for the watched nodes the build reported nothing about.

        In a cycle of changed sources only the root models the plan followed can run without a
        status (the others run only after an upstream model was built, so dbt built them too);
        after a full or manual build every model task may run. One XCom call per node marked.
        """
        reported = self.__dict__.get("_node_results", {})
        followed = set(plan.followed) if plan.mode == CHANGED else None
        marked = 0
        for sensor in self._consumers():
            uid = sensor.model_unique_id
            if not uid or (followed is not None and sensor.task_id not in followed):
                continue
            if sensor.is_test_sensor:
                if ti.xcom_pull(task_ids=self.task_id, key=get_tests_status_xcom_key(uid)) is None:
                    safe_xcom_push(task_instance=ti, key=get_tests_status_xcom_key(uid), value="skipped")
                    marked += 1
            elif uid not in reported:
                safe_xcom_push(task_instance=ti, key=get_status_xcom_key(uid),
                               value={"status": "skipped", "outlet_uris": []})
                marked += 1
        return marked

    # -- the cycle ----------------------------------------------------------------------------
    def execute(self, context: Any, **kwargs: Any) -> Any:
        ti = context["ti"]
        raw = ti.xcom_pull(task_ids=PLAN_TASK_ID, key=PLAN_XCOM_KEY)
        if raw is None:
            raise RuntimeError(f"no plan from task {PLAN_TASK_ID!r}: the producer runs after the plan task")
        plan = Plan.from_dict(raw)
        self.__dict__["_node_results"] = {}
        if not plan.build:  # the plan skipped every model task
            log.info("nothing changed since %s: no dbt build this cycle", plan.previous_watermark)
            return None
        self.select = plan.select or None
        self.full_refresh = plan.full_refresh
        # Unit tests check the models' SQL against fixed inputs, not the data: they run where the
        # SQL changes (`make test`, CI), not in every cycle (dbt's own advice for production).
        if EXCLUDE_UNIT_TESTS[0] not in (self.dbt_cmd_flags or []):
            self.dbt_cmd_flags = [*(self.dbt_cmd_flags or []), *EXCLUDE_UNIT_TESTS]
        log.info("dbt build (%s cycle)%s%s", plan.mode,
                 f" --select {' '.join(plan.select)}" if plan.select else " of the whole project",
                 " --full-refresh" if plan.full_refresh else "")
        error: str | None = None
        try:
            return super().execute(context, **kwargs)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"[:4000]
            raise
        finally:
            results = self.__dict__.get("_node_results", {})
            marked = self._mark_untouched(ti, plan)
            built = [uid for uid, status in results.items() if status in BUILT and not uid.startswith(("test.", "unit_test."))]
            failed = [uid for uid, status in results.items() if status not in NOT_FAILED]
            log.info("built %d node(s), %d failed; %d watched node(s) untouched (skipped)",
                     len(built), len(failed), marked)
            if plan.run_id is not None:
                conn = warehouse_connection()
                try:
                    finish_run(conn, plan.run_id, FAILED if (error or failed) else SUCCESS, built, failed, error)
                finally:
                    conn.close()

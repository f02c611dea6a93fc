"""The `transform` DAG: dbt through astronomer-cosmos, one cycle per batch of raw changes.

Parsing reads one file, the manifest `handoff up` builds with `dbt parse` (settings.py says
where); nothing else (no dbt, no database, no Airflow Variable). Without a manifest the DAG still
imports, with one task that fails saying how to build it.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import airflow  # noqa: F401  (before cosmos.constants: a circular import otherwise)
from airflow.sdk import DAG, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, TriggerRule, task

from handoff.orchestration.assets import outbox_asset, raw_asset
from handoff.orchestration.deadlines import run_deadline
from handoff.orchestration.defaults import START_DATE, default_args
from handoff.orchestration.warehouse import WAREHOUSE_CONN_ID, warehouse_connection
from handoff.transform import settings
from handoff.transform.producer import PLAN_TASK_ID, PLAN_XCOM_KEY, TransformProducer
from handoff.transform.selection import ProjectSources, plan_cycle, start_run

log = logging.getLogger(__name__)

DAG_ID = "transform"
GROUP_ID = "dbt"
FRESHNESS_TASK_ID = "source_freshness"
# Also a timer: a quiet warehouse still gets its source freshness checked (and a cycle that,
# with nothing changed, builds nothing).
CHECK_SCHEDULE_ENV = "HANDOFF_TRANSFORM_CHECK_SCHEDULE"
DEFAULT_CHECK_SCHEDULE = "*/5 * * * *"
DEADLINE = timedelta(minutes=10)
# Cosmos' watcher sensors: reschedule mode polling every 2 s (deferrable sensors never finish
# under `dag.test()`, and the triggerer adds a hop); see handoff/transform/producer.py.
OUTBOX_FOLDER = "outbox"
DBT_ENV = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
# A model task that never finds its status fails after `timeout` instead of poking for days.
SENSOR_ARGS = {"deferrable": False, "mode": "reschedule", "poke_interval": 2, "timeout": 900}

DOC = """\
### transform: dbt models, rebuilt from what landed

**What it does.** Runs the dbt project (`dbt_project/`) through astronomer-cosmos in WATCHER
mode: the `dbt.dbt_producer_watcher` task runs **one** `dbt build` as the `handoff_transformer`
role (host, port and database of the `{conn}` connection; password from the environment), and
every model (and its tests) has its own task that reports what that build did: green = built,
red = failed, pink (skipped) = not rebuilt this cycle. A failing model or test stops only what
depends on it.

**When.** On every event of a raw asset (`raw_<source>.<stream>`, emitted by the extract DAGs only
when rows changed), and every `{check}` (UTC; `{check_env}`) to check source freshness.

**What a cycle builds.** The `plan` task reads `ops.extract_runs`: the streams whose extract
attempts changed raw rows since the previous good cycle's watermark. It builds
`dbt build --select source:raw_<source>.<stream>+ ...` for those; nothing changed = no dbt at all.
The first cycle on a warehouse builds everything. Every cycle is a row in `ops.transform_runs`
(mode, watermark, changed sources, `--select`, outcome, nodes built and failed). A failed cycle
does not move the watermark: the next cycle rebuilds the same streams.

**Source freshness.** `source_freshness` runs `dbt source freshness` in timer and manual runs
(measured from each stream's last successful extract, thresholds from each source's schedule);
it fails on an error-level stale feed, without stopping any build.

**On call.**
- *A model or test failed*: its task log shows dbt's message (the producer's log has the whole
  build). Fix, then *Clear* the model's task: it reruns that model alone (`dbt run --select`).
  Or just wait: the next cycle rebuilds what the failed one selected.
- *Rebuild everything*: trigger with `full_refresh: true` (`dbt build --full-refresh`).
- *Rebuild some models*: trigger with `select` (dbt selection syntax, e.g. `+fct_utilization`).
- *What ran when*: `SELECT * FROM ops.transform_runs ORDER BY run_id DESC`.
- *New or changed models are not shown*: the DAG is drawn from the manifest at `{manifest}`;
  `handoff up` rebuilds it (`dbt parse`).
- dbt docs: Browse > dbt docs in this UI.
"""

MISSING_DOC = """\
### transform: dbt manifest missing

The transform DAG is drawn from the dbt manifest at `{manifest}`, which is not there or not
readable ({why}). `handoff up` builds it (`dbt parse` of `dbt_project/` as the transformer); by
hand: `cd dbt_project && dbt parse --target-path {target}`. The dag-processor picks it up on its
next parse. Until then this DAG has only the task `manifest_missing`, which fails saying this.
"""


MAX_ACTIVE_TASKS_ENV = "HANDOFF_TRANSFORM_MAX_ACTIVE_TASKS"


def _check_schedule() -> str:
    return os.environ.get(CHECK_SCHEDULE_ENV) or DEFAULT_CHECK_SCHEDULE


def _max_active_tasks() -> int:
    raw = os.environ.get(MAX_ACTIVE_TASKS_ENV, "2")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{MAX_ACTIVE_TASKS_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


def _common_dag_args() -> dict:
    return {
        "dag_id": DAG_ID,
        "start_date": START_DATE,
        "catchup": False,
        # Three: the next cycle's plan and build may start while the two before it still report
        # their model tasks (one task launch each, minutes for a full cycle); builds never overlap
        # (max_active_tis_per_dag) and come first (the highest priority weights).
        "max_active_runs": 3,
        # A full cycle reports ~140 model tasks; at most this many run at once, so the executor
        # keeps slots for the every-minute extracts (parallelism 4). The plan and the build come
        # first: upstream tasks carry the highest priority weight (weight_rule downstream).
        "max_active_tasks": _max_active_tasks(),
        "tags": ["transform", "dbt"],
        "default_args": default_args(retries=0),
        "deadline": run_deadline(DAG_ID, DEADLINE, "transform"),
    }


def _read_manifest(path: Path) -> tuple[dict | None, str]:
    try:
        return json.loads(path.read_text()), ""
    except FileNotFoundError:
        return None, "no such file"
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def manifest_missing(manifest: str, why: str) -> None:
    raise RuntimeError(f"dbt manifest {manifest} is missing ({why}): run `handoff up` (it runs `dbt parse`), "
                       "then wait for the dag-processor to reparse dags/transform.py")


def choose(**context) -> None:
    """The plan task: decide what this cycle builds, record it, skip the root models it does not
    rebuild (their dependents are then skipped by the scheduler, without a task launch).

    Not a branch operator: a branch never skips a task that is also downstream of a followed task,
    and every root model task is downstream of the producer.
    """
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    ti, params, dag_run = context["ti"], context.get("params") or {}, context.get("dag_run")
    sources = ProjectSources.read(settings.manifest_path())
    conn = warehouse_connection()
    try:
        plan = plan_cycle(conn, sources, select=str(params.get("select") or ""),
                          full_refresh=bool(params.get("full_refresh")))
        plan.run_id = start_run(conn, plan, getattr(dag_run, "dag_id", DAG_ID), getattr(dag_run, "run_id", None))
    finally:
        conn.close()
    skipped = []
    for downstream in context["task"].downstream_list:
        node = (getattr(downstream, "extra_context", None) or {}).get("dbt_node_config")
        if node is None:  # the producer, source freshness
            continue
        if plan.selects_root(node, sources):
            plan.followed.append(downstream.task_id)
        else:
            skipped.append(downstream.task_id)
    ti.xcom_push(key=PLAN_XCOM_KEY, value=plan.as_dict())
    log.info("cycle %s (%s): changed %s; %s", plan.run_id, plan.mode, plan.changed or "nothing",
             f"dbt build --select {' '.join(plan.select)}" if plan.select else
             ("dbt build (whole project)" if plan.build else "no build"))
    log.info("root models rebuilt: %d, skipped: %d", len(plan.followed), len(skipped))
    if skipped:
        raise DownstreamTasksSkipped(tasks=skipped)


def _freshness_operator(profile_config, project_dir: str):
    from cosmos.airflow.compatibility import AirflowSkipException
    from cosmos.operators.local import DbtSourceLocalOperator

    class SourceFreshness(DbtSourceLocalOperator):
        """`dbt source freshness`, in timer and manual runs only (asset-triggered runs skip it)."""

        def execute(self, context, **kwargs):
            run_type = str(getattr(getattr(context.get("dag_run"), "run_type", None), "value",
                                   getattr(context.get("dag_run"), "run_type", "")))
            if run_type == "asset_triggered":
                raise AirflowSkipException("freshness is checked by the timer runs, not on every change")
            if not ProjectSources.read(settings.manifest_path()).with_freshness:
                raise AirflowSkipException("no dbt source declares a freshness threshold")
            return super().execute(context, **kwargs)

    return SourceFreshness(
        task_id=FRESHNESS_TASK_ID, project_dir=project_dir, profile_config=profile_config,
        append_env=True, env=DBT_ENV, trigger_rule=TriggerRule.ALL_DONE, retries=0,
        doc_md="`dbt source freshness` of every source: fails when a feed is stale beyond its error threshold.",
    )


def build_dag() -> DAG:
    manifest = settings.manifest_path()
    data, why = _read_manifest(manifest)
    if data is None:
        with DAG(
            schedule=CronTriggerTimetable(_check_schedule(), timezone="UTC"),
            description="dbt models (manifest missing: see the doc)",
            doc_md=MISSING_DOC.format(manifest=manifest, why=why, target=manifest.parent),
            **_common_dag_args(),
        ) as dag:
            task(task_id="manifest_missing")(manifest_missing)(str(manifest), why)
        return dag

    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from handoff.transform.profile import profile_config

    sources = ProjectSources.from_manifest(data)
    assets = [raw_asset(src, stream) for src, stream in sources.raw_streams()]
    timer = CronTriggerTimetable(_check_schedule(), timezone="UTC")
    schedule = AssetOrTimeSchedule(timetable=timer, assets=AssetAny(*assets)) if assets else timer
    project_dir = str(settings.project_dir())
    profile = profile_config()
    with DAG(
        schedule=schedule,
        description="dbt build of what changed in raw (cosmos WATCHER)",
        doc_md=DOC.format(conn=WAREHOUSE_CONN_ID, check=_check_schedule(), check_env=CHECK_SCHEDULE_ENV,
                          manifest=manifest),
        params={
            "full_refresh": Param(False, type="boolean", description="dbt build --full-refresh of everything "
                                  "(or of `select`)"),
            "select": Param("", type="string", description="dbt selection to build instead of what changed, "
                            "e.g. `+fct_utilization` or `tag:finance` (empty: what changed)"),
        },
        **_common_dag_args(),
    ) as dag:
        plan = task(task_id=PLAN_TASK_ID, doc_md="Decides what this cycle builds (ops.extract_runs since "
                           "the last good cycle), records it in ops.transform_runs, skips unselected models.")(choose)()
        project = ProjectConfig(dbt_project_path=project_dir, manifest_path=str(manifest),
                                project_name=data.get("metadata", {}).get("project_name") or "handoff",
                                install_dbt_deps=False, env_vars=DBT_ENV)
        # A local file: cosmos' ObjectStoragePath would load every Airflow plugin (~1 s) to read it.
        project.manifest_path = manifest
        group = DbtTaskGroup(
            group_id=GROUP_ID,
            project_config=project,
            profile_config=profile,
            # dbt in its own process: in-process (DBT_RUNNER), cosmos turns every dbt event, debug
            # ones included, into JSON in the task's interpreter, and the build ran 5x slower.
            execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER,
                                             invocation_mode=InvocationMode.SUBPROCESS,
                                             dbt_executable_path=settings.dbt_executable()),
            render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH,
                                       emit_datasets=False),
            operator_args={**SENSOR_ARGS, "append_env": True},
        )
        producer = wire(dag, group, plan)
        announce_outboxes(dag, data)
        freshness = _freshness_operator(profile, project_dir)
        plan >> freshness
        # After the build (they would share the CPU), not after the model tasks: a leaf that
        # always ends well would hide a failed build from the run's state.
        producer >> freshness
    return dag


def outbox_models(manifest: dict) -> dict[str, str]:
    """{unique_id: model name} of the models in the project's `outbox` folder."""
    return {uid: n["name"] for uid, n in (manifest.get("nodes") or {}).items()
            if n.get("resource_type") == "model" and (n.get("fqn") or [None, None])[1] == OUTBOX_FOLDER}


def announce_outboxes(dag: DAG, manifest: dict) -> None:
    """The task that reports an outbox model's tests (or the model, without tests) gets the
    model's asset as outlet: it succeeds only when this cycle rebuilt the model and its tests
    passed, so a reverse sync scheduled on the asset runs then, never on an unchecked outbox."""
    from cosmos.operators._watcher.base import BaseConsumerSensor

    models = outbox_models(manifest)
    sensors: dict[str, list] = {}
    for t in dag.tasks:
        if isinstance(t, BaseConsumerSensor) and t.model_unique_id in models:
            sensors.setdefault(t.model_unique_id, []).append(t)
    for uid, tasks in sensors.items():
        last = next((t for t in tasks if t.is_test_sensor), tasks[0])
        last.outlets = [*last.outlets, outbox_asset(models[uid])]


def wire(dag: DAG, group, plan) -> TransformProducer:
    """Plan, then the build, then the model tasks read what it did.

    Root models (no upstream model) wait for the plan, which skips those the cycle does not
    rebuild, and for the producer: each model task then runs once and finds its status instead of
    polling during the build (a task launch reparses this DAG, ~1 s of CPU). Other models run
    when an upstream model task succeeded and none failed, so a subtree nobody rebuilt is skipped
    by the scheduler without starting a task, and a failed model or test stops its dependents.
    """
    from cosmos.operators._watcher.base import BaseConsumerSensor
    from cosmos.operators.watcher import DbtProducerWatcherOperator

    producers = [t for t in group.children.values() if isinstance(t, DbtProducerWatcherOperator)]
    if len(producers) != 1:
        raise RuntimeError(f"expected one cosmos watcher producer in {group.group_id}, found {len(producers)}")
    producer = TransformProducer.adopt(producers[0])
    producer.retries = 0  # cosmos skips a producer retry; the next cycle is the retry
    producer.max_active_tis_per_dag = 1  # one dbt build at a time, in cycle order
    plan.operator.max_active_tis_per_dag = 1
    plan >> producer
    for t in dag.tasks:
        if not isinstance(t, BaseConsumerSensor):
            continue
        if t.upstream_task_ids:
            t.trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
        else:
            plan >> t
            producer >> t
            t.trigger_rule = TriggerRule.ALL_DONE_MIN_ONE_SUCCESS
    return producer

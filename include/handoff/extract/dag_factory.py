"""Builds one extract DAG per source; DAG files stay one line.

Nothing here does I/O at parse time: the schedule comes from an environment variable or the
source's default; connections, Variables and the warehouse are touched only inside tasks.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import (
    DAG,
    Asset,
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    task,
)

from handoff.extract.ledger import RunInfo
from handoff.extract.streams import ExtractSettings, StreamRunner

log = logging.getLogger(__name__)
WAREHOUSE_CONN_ID = "handoff_warehouse"
OWNER = "data-platform"


def raw_asset(source: str, stream: str) -> Asset:
    """The asset a stream's task emits when its raw table changed; schedule dbt on these."""
    return Asset(name=f"raw_{source}.{stream}", uri=f"postgres://warehouse:5432/handoff/raw_{source}/{stream}",
                 group="raw")


def setting(name: str, default: str) -> str:
    """Runtime setting: env HANDOFF_EXTRACT_<NAME>, else Variable handoff_extract_<name>, else default."""
    env = os.environ.get(f"HANDOFF_EXTRACT_{name.upper()}")
    if env is not None:
        return env
    try:
        from airflow.sdk import Variable

        return str(Variable.get(f"handoff_extract_{name.lower()}", default=default))
    except Exception:  # outside a task (scripts, benchmarks): no Variables
        return default


def runtime_settings() -> ExtractSettings:
    return ExtractSettings(
        lookback=timedelta(seconds=float(setting("lookback_seconds", "600"))),
        commit_records=int(setting("commit_records", "5000")),
        prefetch_pages=int(setting("prefetch_pages", "2")),
        reconcile_every=timedelta(minutes=float(setting("reconcile_minutes", "15"))),
        max_delete_share=float(setting("max_delete_share", "0.2")),
        lock_wait=timedelta(seconds=float(setting("lock_wait_seconds", "600"))),
    )


def warehouse_connection():
    """A psycopg 3 connection from the `handoff_warehouse` Airflow connection."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).get_conn()


async def extract_missed_deadline(source: str, seconds: float, **kwargs) -> None:
    """Deadline callback (runs in the triggerer): a run of extract_<source> is late."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") or {}
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", None)
    log.warning("extract deadline missed: extract_%s run %s has not finished %.0f s after it was queued; "
                "check the task logs and ops.extract_runs", source, run_id, seconds)


def freshness_deadline(source) -> DeadlineAlert | None:
    """The run-is-late alert; HANDOFF_EXTRACT_DEADLINES=off drops it.

    Off is for `airflow dags test` / `dag.test()`: Airflow 3.3.2's dag.test() ends with
    "can't adapt type 'dict'" on any DAG with a deadline (it looks alerts up by their serialized
    form instead of their id) after every task has run. The scheduler path is unaffected.
    """
    if os.environ.get("HANDOFF_EXTRACT_DEADLINES", "on").lower() in ("off", "false", "0"):
        return None
    interval = source.deadline
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(extract_missed_deadline, kwargs={"source": source.name,
                                                                 "seconds": interval.total_seconds()}),
        name=f"extract_{source.name}_freshness",
    )


def run_stream(source_name: str, stream_name: str, **context) -> dict:
    """Task body: extract one stream for this DAG run (see the DAG's doc for modes)."""
    from handoff.extract.sources import get_source

    source = get_source(source_name)
    stream = source.stream(stream_name)
    dag_run, ti = context.get("dag_run"), context.get("ti")
    params = context.get("params") or {}
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run else {}
    full_refresh = bool(conf.get("full_refresh", params.get("full_refresh", False)))
    window = conf.get("window", params.get("window", "cursor"))
    info = RunInfo(
        dag_id=getattr(dag_run, "dag_id", None),
        dag_run_id=getattr(dag_run, "run_id", None),
        task_id=getattr(ti, "task_id", None),
        try_number=getattr(ti, "try_number", None),
        run_type=str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", "")) or ""),
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        full_refresh=full_refresh,
    )
    client = source.client()
    conn = warehouse_connection()
    try:
        result = StreamRunner(stream, client, conn, runtime_settings()).run(info, interval_window=window == "interval")
    finally:
        client.close()
        conn.close()
    return {
        "batch_id": result.batch_id, "mode": result.mode, "pages": result.pages, "records": result.records,
        "rejects": result.rejects, "deletes": result.deletes, "retries": result.retries,
        "cursor": result.cursor.isoformat() if result.cursor else None,
    }


DOC = """\
### extract_{name}: {description}

**What it does.** Pulls each stream (one task per object: {streams}) from the `{conn_id}`
connection into `raw_{name}.<object>` in the warehouse (`handoff_warehouse`): one row per source
id holding the latest version (payload JSONB, `source_modified_at`, `is_deleted`, `batch_id`,
`loaded_at`). Rows and the stream's cursor (`ops.extract_state`) commit together, so a killed task
loses nothing and doubles nothing: just let it retry. Every attempt is a row in `ops.extract_runs`;
bad records go to `ops.rejected_records`, new/missing fields to `ops.schema_changes`. Each task
emits the asset `raw_{name}.<object>` when it finishes.

**Schedule.** `{schedule}` (override: env `HANDOFF_EXTRACT_{upper}_SCHEDULE`). A deadline alert
fires when a run has not finished {deadline:.0f} s after it was queued
(`HANDOFF_EXTRACT_{upper}_DEADLINE_SECONDS`); it is logged by the triggerer as
`extract deadline missed`. A scheduled run reads
everything modified since the cursor minus the look-back (Variable `handoff_extract_lookback_seconds`,
default 600).

**On call.**
- *A task failed*: read its log (one line per page; the last lines name the system's error).
  4xx other than 401/429 are not retried (credentials, permissions, a bad query): fix, then *Clear*
  the task. Transient errors were already retried with backoff.
- *Rerun*: clear the task or the run; reruns are idempotent.
- *Backfill a past window*: `airflow backfill create --dag-id extract_{name} --from-date ... --to-date ...`
  (or trigger with conf `{{"window": "interval"}}` and a logical date): re-extracts exactly records
  modified within each run's data interval, without moving the cursor.
- *Full refresh*: trigger with conf `{{"full_refresh": true}}` (the `full_refresh` param):
  re-reads everything; raw rows converge to the source's current state.
- *Stuck cursor*: `SELECT * FROM ops.extract_state WHERE source = '{name}'`.
"""


def build_dag(source_name: str) -> DAG:
    from handoff.extract.sources import get_source

    source = get_source(source_name)
    with DAG(
        dag_id=f"extract_{source.name}",
        description=f"Extract {source.description} into raw_{source.name}",
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        deadline=freshness_deadline(source),
        tags=["extract", source.name, *source.tags],
        default_args={"owner": OWNER, "retries": 3, "retry_delay": timedelta(seconds=20),
                      "retry_exponential_backoff": True},
        params={
            "full_refresh": Param(False, type="boolean", description="Re-read everything"),
            "window": Param("cursor", enum=["cursor", "interval"],
                            description="cursor: since the last load; interval: exactly this run's data interval"),
        },
        doc_md=DOC.format(
            name=source.name, upper=source.name.upper(), description=source.description,
            streams=", ".join(s.name for s in source.streams), conn_id=source.conn_id, schedule=source.schedule,
            deadline=source.deadline.total_seconds(),
        ),
    ) as dag:
        for stream in source.streams:
            task(
                task_id=stream.name,
                outlets=[raw_asset(source.name, stream.name)],
                doc_md=f"Extract `{source.name}.{stream.name}` into `raw_{source.name}.{stream.name}`.",
            )(run_stream)(source_name=source.name, stream_name=stream.name)
    return dag

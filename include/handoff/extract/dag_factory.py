"""Builds one extract DAG per source; DAG files stay one line.

Nothing here does I/O at parse time: the schedule comes from an environment variable or the
source's default; connections, Variables and the warehouse are touched only inside tasks.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from handoff.extract.runlog import RunInfo
from handoff.extract.runner import ExtractSettings, StreamRunner
from handoff.orchestration.assets import announce_change, changes_alias, raw_asset
from handoff.orchestration.deadlines import run_deadline
from handoff.orchestration.defaults import START_DATE, default_args
from handoff.orchestration.settings import positive, setting
from handoff.orchestration.warehouse import warehouse_connection

log = logging.getLogger(__name__)


def runtime_settings() -> ExtractSettings:
    """Env HANDOFF_EXTRACT_<NAME>, else Variable handoff_extract_<name>, else the default."""
    seconds = positive(float)
    return ExtractSettings(
        lookback=timedelta(seconds=setting("extract", "lookback_seconds", 600.0, seconds)),
        commit_records=setting("extract", "commit_records", 5000, positive(int)),
        prefetch_pages=setting("extract", "prefetch_pages", 2, positive(int)),
        reconcile_every=timedelta(minutes=setting("extract", "reconcile_minutes", 15.0, seconds)),
        max_delete_share=setting("extract", "max_delete_share", 0.2, seconds),
        lock_wait=timedelta(seconds=setting("extract", "lock_wait_seconds", 600.0, seconds)),
        window_records=setting("extract", "window_records", 0, positive(int)),
        window_workers=setting("extract", "window_workers", 8, positive(int)),
        catchup_after=timedelta(minutes=setting("extract", "catchup_minutes", 30.0, seconds)),
    )


def run_stream(source_name: str, stream_name: str, **context) -> dict:
    """Task body: extract one stream for this DAG run (see the DAG's doc for modes); announce the
    raw asset only when rows changed."""
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
    settings = runtime_settings()
    client = source.client().share_allowance(warehouse_connection)
    conn = warehouse_connection()
    try:
        result = StreamRunner(stream, client, conn, settings, connect=warehouse_connection).run(
            info, interval_window=window == "interval")
    finally:
        client.close()
        conn.close()
    summary = {
        "batch_id": result.batch_id, "mode": result.mode, "pages": result.pages, "records": result.records,
        "changed": result.changed, "changed_since_success": result.changed_since_success,
        "rejects": result.rejects, "deletes": result.deletes,
        "retries": result.retries, "requests": result.requests,
        "cursor": result.cursor.isoformat() if result.cursor else None,
    }
    # Failed attempts since the last success may have committed batches: announce those too.
    announce_change(context, raw_asset(source_name, stream_name), result.changed_since_success,
                    {k: summary[k] for k in ("batch_id", "mode", "records", "deletes", "cursor")})
    return summary


DOC = """\
### extract_{name}: {description}

**What it does.** Pulls each stream (one task per object: {streams}) from the `{conn_id}`
connection into `raw_{name}.<object>` in the warehouse (`handoff_warehouse`): one row per source
id holding the latest version (payload JSONB, `source_modified_at`, `is_deleted`, `batch_id`,
`loaded_at`). Rows and the stream's cursor (`ops.extract_state`) commit together, so a killed task
loses nothing and doubles nothing: just let it retry. Every attempt is a row in `ops.extract_runs`;
bad records go to `ops.rejected_records`, new/missing fields to `ops.schema_changes`. A task emits
the asset `raw_{name}.<object>` (through the alias `raw_{name}.<object>:changes`) only when rows
changed, with the counts in the event's extra; whether a quiet feed is alive is in
`ops.stream_freshness` (last successful run per stream).

**Schedule.** `{schedule}` (override: env `HANDOFF_EXTRACT_{upper}_SCHEDULE`). A deadline alert
fires when a run has not finished {deadline:.0f} s after it was queued
(`HANDOFF_EXTRACT_{upper}_DEADLINE_SECONDS`); it is logged by the triggerer as
`extract deadline missed`. Deletion sweeps that need a full listing (HubSpot archived records,
Kantata id reconciliation) run every `handoff_extract_reconcile_minutes` (default 15). A scheduled run reads
everything modified since the cursor minus the look-back (Variable `handoff_extract_lookback_seconds`,
default 600).

**On call.**
- *A task failed*: read its log (one line per commit of a few thousand records, page lines at debug; the last lines name the system's error).
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
    dag_id = f"extract_{source.name}"
    with DAG(
        dag_id=dag_id,
        description=f"Extract {source.description} into raw_{source.name}",
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        deadline=run_deadline(dag_id, source.deadline, "extract"),
        tags=["extract", source.name, *source.tags],
        default_args=default_args(),
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
                outlets=[changes_alias(raw_asset(source.name, stream.name))],
                doc_md=f"Extract `{source.name}.{stream.name}` into `raw_{source.name}.{stream.name}`; "
                       "announces the raw asset only when rows changed.",
            )(run_stream)(source_name=source.name, stream_name=stream.name)
    return dag

"""The reverse-sync DAGs: `reverse_sync_netsuite` posts the outbox, `reverse_sync_replay` replays
dead letters once their cause is fixed. DAG files stay one line; nothing here does I/O at parse
time (the client and the warehouse are opened inside tasks).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

from handoff.orchestration.assets import outbox_asset
from handoff.orchestration.deadlines import run_deadline
from handoff.orchestration.defaults import START_DATE, default_args
from handoff.orchestration.settings import positive, setting
from handoff.reverse.netsuite import OWNER

log = logging.getLogger(__name__)

SYNC_DAG_ID, REPLAY_DAG_ID = "reverse_sync_netsuite", "reverse_sync_replay"
# outbox source -> the dbt outbox model it reads (and whose asset schedules the sync)
SOURCES = {"time_entries": "outbox_time_entries", "billing_events": "outbox_billing_events"}
SAFETY_NET = "*/5 * * * *"  # runs even when no outbox event came (a missed event, a retry due)
REASONS = ["", *sorted(OWNER)]  # the dead-letter reasons (handoff.reverse.netsuite)
ACTIONS_SHOWN = 200  # a dry run logs every action; its XCom keeps the first ones


def _client():
    from handoff.connectors.netsuite import Client
    from handoff.systems import system

    return Client(system("netsuite").conn_id)


def _log_actions(summary: dict) -> dict:
    """Log every planned action of a dry run (one line each) and keep the first ones in XCom."""
    actions = summary.get("actions") or summary.get("postings") or []
    for a in actions:
        log.info("would %s", " ".join(f"{k}={v}" for k, v in a.items() if v not in (None, "")))
    key = "actions" if "actions" in summary else "postings"
    if len(actions) > ACTIONS_SHOWN:
        summary = {**summary, key: actions[:ACTIONS_SHOWN], f"{key}_not_shown": len(actions) - ACTIONS_SHOWN}
    return summary


def post_source(source: str, **context) -> dict:
    """Task body: plan the outbox against the ledger, then post what is due (or only list it)."""
    from airflow.sdk.exceptions import AirflowSkipException
    from psycopg.errors import InsufficientPrivilege, UndefinedTable

    from handoff.orchestration.warehouse import warehouse_connection
    from handoff.reverse import sync

    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    dry_run = bool(params.get("dry_run", False))
    run_id = f"{getattr(dag_run, 'run_id', 'manual')}:{source}"
    client = _client()
    try:
        summary = sync(warehouse_connection, client, source=source, dry_run=dry_run, run_id=run_id,
                       concurrency=setting("reverse", "concurrency", None, positive(int)))
    except (UndefinedTable, InsufficientPrivilege) as exc:
        # a new warehouse: the transform DAG has not built the outbox yet (or is building it: the
        # loader's grants come with the model, and its schema's at the end of the build)
        raise AirflowSkipException(f"nothing to post yet: outbox.{SOURCES[source]} is not built or not "
                                   f"readable yet (the transform DAG builds it): {str(exc).splitlines()[0]}") from None
    finally:
        client.close()
    log.info("%s", {k: v for k, v in summary.items() if k != "actions"})
    return _log_actions(summary) if dry_run else summary


def _date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"param {name!r}: {value!r} is not a date (YYYY-MM-DD or an ISO timestamp)") from None


def parse_ids(value) -> list[int] | None:
    """`posting_ids` from the form: "12, 15 19" or a list; None when empty."""
    if value in (None, "", []):
        return None
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    try:
        return [int(x) for x in items]
    except (TypeError, ValueError):
        raise ValueError(f"param 'posting_ids': {value!r} is not a list of ledger posting ids") from None


def replay_dead_letters(**context) -> dict:
    """Task body: replay the chosen dead letters (re-checked against the outbox first)."""
    from handoff.orchestration.warehouse import warehouse_connection
    from handoff.reverse import replay

    p = context.get("params") or {}
    ids, reason = parse_ids(p.get("posting_ids")), p.get("reason") or None
    since, until = _date("since", p.get("since")), _date("until", p.get("until"))
    if until is not None and len(p.get("until") or "") <= 10:
        until += timedelta(days=1)  # a date means the whole day
    if not (ids or reason or since or until):
        raise ValueError("choose what to replay: param 'posting_ids', 'reason', or a date range ('since'/'until')")
    source = p.get("source") or None
    dag_run = context.get("dag_run")
    client = _client()
    try:
        summary = replay(warehouse_connection, client, source=None if source == "all" else source,
                         posting_ids=ids, reason=reason, since=since, until=until,
                         dry_run=bool(p.get("dry_run", False)), run_id=f"{getattr(dag_run, 'run_id', 'manual')}")
    finally:
        client.close()
    return _log_actions(summary)


SYNC_DOC = """\
### reverse_sync_netsuite: approved time and billing events posted to NetSuite once

**What it does.** For each outbox (`outbox.outbox_time_entries`, `outbox.outbox_billing_events`,
built by dbt) it compares the outbox with the posting ledger `ops.erp_postings`, writes a ledger
row for every record version to create, change or remove (nothing is sent without one), then
posts what is due through the `handoff_netsuite` connection: a `timeBill` / billing-event record
per version, `X-NetSuite-Idempotency-Key` per version, `externalId` per record. Edits after
posting are PATCHed, deletes and un-approvals DELETEd; refusals a retry cannot fix are dead
letters with a reason and a fix owner (finance, pmo, master_data); 429/5xx are retried.
Concurrency to NetSuite is capped by the account's limit (15), shared by every task and run.

**When.** Whenever the transform DAG rebuilt an outbox and its tests passed (asset event), and
every 5 minutes as a safety net.

**Dry run.** Trigger with `dry_run` = true: the task logs what it would post, change or remove
and why, and sends and writes nothing.

**On call.**
- Dead letters: `SELECT * FROM ops.erp_postings WHERE state = 'dead_lettered'`, or the
  reconciliation-exceptions mart. Fix the cause (the reason says what), then replay them with
  the `reverse_sync_replay` DAG.
- A failed task: rerun it; rows it had claimed are recovered (looked up by external id) before
  anything is sent again.
"""

REPLAY_DOC = """\
### reverse_sync_replay: dead letters posted again once their cause is fixed

Choose the dead letters: `posting_ids` (ledger ids, comma-separated), or all of a `reason`,
and/or those dead-lettered between `since` and `until` (dates, inclusive). Each one is checked
against the outbox first: still blocked there, it stays a dead letter (the log says why); the
outbox holds a newer version, it is left to the next sync. The rest are sent again with a fresh
idempotency key. `dry_run` = true (the default) lists what would be replayed and why.
"""


def build_sync_dag() -> DAG:
    assets = [outbox_asset(model) for model in SOURCES.values()]
    with DAG(
        dag_id=SYNC_DAG_ID,
        description="Post approved time and billing events from the outbox to NetSuite, exactly once",
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(SAFETY_NET, timezone="UTC"),
                                     assets=AssetAny(*assets)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        deadline=run_deadline(SYNC_DAG_ID, timedelta(minutes=15), "reverse sync"),
        tags=["reverse-sync", "netsuite"],
        default_args=default_args(retries=2),
        params={"dry_run": Param(False, type="boolean",
                                 description="List what would be posted, changed or removed, and why; send nothing")},
        doc_md=SYNC_DOC,
    ) as dag:
        for source, model in SOURCES.items():
            task(task_id=f"post_{source}",
                 doc_md=f"Plan `outbox.{model}` against `ops.erp_postings`, then post what is due.")(
                post_source)(source=source)
    return dag


def build_replay_dag() -> DAG:
    with DAG(
        dag_id=REPLAY_DAG_ID,
        description="Replay NetSuite dead letters once their cause is fixed",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["reverse-sync", "netsuite"],
        default_args=default_args(retries=0),
        params={
            "source": Param("all", enum=["all", *SOURCES], description="Which outbox's dead letters"),
            "posting_ids": Param("", type="string", description="Ledger posting ids, comma-separated"),
            "reason": Param("", enum=REASONS, description="All dead letters with this reason"),
            "since": Param("", type="string", description="Dead-lettered on or after (YYYY-MM-DD)"),
            "until": Param("", type="string", description="Dead-lettered on or before (YYYY-MM-DD)"),
            "dry_run": Param(True, type="boolean", description="Only list what would be replayed, and why"),
        },
        doc_md=REPLAY_DOC,
    ) as dag:
        task(task_id="replay", doc_md="Re-check the chosen dead letters against the outbox and post them again.")(
            replay_dead_letters)()
    return dag

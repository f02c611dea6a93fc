"""The extract run log, `ops.extract_runs`: one row per stream task attempt, for people to query.

(Not to be confused with reverse sync's posting ledger: this records reads, not writes.)

The row is inserted (autocommit) when the attempt starts, its counters move in the same
transaction as each committed batch (so they match what landed), and the outcome is written at
the end. An attempt killed with -9 stays `running`; the next attempt of the stream marks it
`abandoned`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RunInfo:
    """Where an extract attempt comes from (Airflow context or a script)."""

    dag_id: str | None = None
    dag_run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    run_type: str | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    full_refresh: bool = False


@dataclass
class Counters:
    pages: int = 0
    records: int = 0
    changed: int = 0
    rejects: int = 0
    deletes: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)


class RunLog:
    def __init__(self, source: str, stream: str, batch_id: str):
        self.source, self.stream, self.batch_id = source, stream, batch_id
        self.counters = Counters()

    def start(self, conn, info: RunInfo, mode: str, window_start, window_end) -> None:
        with conn.transaction():
            conn.execute(
                """UPDATE ops.extract_runs SET outcome = 'abandoned', finished_at = now()
                   WHERE source = %s AND stream = %s AND outcome = 'running'""",
                (self.source, self.stream),
            )
            conn.execute(
                """INSERT INTO ops.extract_runs (batch_id, dag_id, dag_run_id, task_id, try_number, source, stream,
                       mode, window_start, window_end)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (
                    self.batch_id, info.dag_id, info.dag_run_id, info.task_id, info.try_number,
                    self.source, self.stream, mode, window_start, window_end,
                ),
            )

    def record_batch(self, conn, *, retries: int, pages: int = 0, records: int = 0, changed: int = 0,
                     rejects: int = 0, deletes: int = 0) -> None:
        """Add a committed batch's counts; call inside the batch's transaction. `changed` counts the
        raw rows inserted or changed, `deletes` those newly marked deleted (both change raw)."""
        c = self.counters
        c.pages += pages
        c.records += records
        c.changed += changed + deletes
        c.rejects += rejects
        c.deletes += deletes
        c.retries = retries
        conn.execute(
            """UPDATE ops.extract_runs SET pages = %s, records = %s, changed = %s, rejects = %s, deletes = %s,
                   retries = %s, duration_s = %s WHERE batch_id = %s""",
            (c.pages, c.records, c.changed, c.rejects, c.deletes, c.retries, time.monotonic() - c.started,
             self.batch_id),
        )

    def finish(self, conn, outcome: str, retries: int, error: str | None = None) -> None:
        self.counters.retries = retries
        with conn.transaction():
            conn.execute(
                """UPDATE ops.extract_runs SET outcome = %s, error = %s, retries = %s, finished_at = now(),
                       duration_s = %s WHERE batch_id = %s""",
                (outcome, error, retries, time.monotonic() - self.counters.started, self.batch_id),
            )

    def changed_since_success(self, conn) -> int:
        """Rows changed by this attempt and by the failed or abandoned attempts since the stream's
        previous success: what downstream has not been told about yet (their batches committed)."""
        return conn.execute(
            """WITH prev AS (SELECT max(started_at) AS t FROM ops.extract_runs
                             WHERE source = %(s)s AND stream = %(st)s AND outcome = 'success' AND batch_id <> %(b)s)
               SELECT coalesce(sum(changed), 0)::bigint FROM ops.extract_runs, prev
               WHERE source = %(s)s AND stream = %(st)s AND started_at > coalesce(prev.t, '-infinity')""",
            {"s": self.source, "st": self.stream, "b": self.batch_id},
        ).fetchone()[0]

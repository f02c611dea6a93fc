"""Landing rows in `raw_<source>.<stream>`: COPY into a temp staging table, then one merge.

Every method runs inside the caller's transaction; the runner commits rows, rejects, schema
changes, ledger counters and the cursor together. The merge is an upsert keyed on the source
id that never replaces a newer version with an older one (re-read overlaps, look-back windows
and backfills are no-ops for rows already at or past that version) and skips identical
versions (so `batch_id` says which batch last changed a row).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate

from psycopg import sql

from handoff.warehouse.migrate import raw_table_name

_ESCAPE = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(value: str | None) -> str:
    """One field in COPY text format."""
    if value is None:
        return "\\N"
    return value if value.isalnum() else value.translate(_ESCAPE)


@dataclass(frozen=True)
class Tombstone:
    """A delete reported by the system (id, when) without the record itself."""

    source_id: str
    deleted_at: datetime | str | None
    payload: dict | None = None


class RawLoader:
    """COPY + merge for one raw table on one connection (staging tables live per session)."""

    def __init__(self, conn, source: str, stream: str):
        self.conn, self.source, self.stream = conn, source, stream
        self.table = raw_table_name(source, stream)
        self.stage = sql.Identifier(f"_stage_{source}_{stream}")
        self.ids_stage = sql.Identifier(f"_ids_{source}_{stream}")
        conn.execute(
            sql.SQL(
                """CREATE TEMP TABLE IF NOT EXISTS {} (
                     source_id text, source_modified_at timestamptz, is_deleted boolean, payload jsonb)
                   ON COMMIT DELETE ROWS"""
            ).format(self.stage)
        )
        # Ids a listing returned; an offset listing over a changing set may list an id twice.
        conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (source_id text)").format(self.ids_stage))

    # -- records ---------------------------------------------------------------------------------
    def copy_rows(self, lines: Iterable[str]) -> None:
        """Stream pre-rendered COPY text lines (id, modified, deleted, payload) into the stage."""
        with self.conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY {} (source_id, source_modified_at, is_deleted, payload) FROM STDIN").format(self.stage)
            ) as cp:
                buf: list[str] = []
                size = 0
                for line in lines:
                    buf.append(line)
                    size += len(line)
                    if size > 1 << 20:
                        cp.write("".join(buf))
                        buf, size = [], 0
                if buf:
                    cp.write("".join(buf))

    def count_leaving(self, ts: datetime) -> int:
        """Staged records whose live raw version is at `ts` and which now carry a later time."""
        return self.conn.execute(
            sql.SQL("""SELECT count(DISTINCT r.source_id) FROM {stage} s JOIN {raw} r ON r.source_id = s.source_id
                       WHERE r.source_modified_at = %(ts)s AND NOT r.is_deleted AND s.source_modified_at > %(ts)s""")
            .format(stage=self.stage, raw=self.table), {"ts": ts}).fetchone()[0]

    def is_empty(self) -> bool:
        return self.conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self.table)).fetchone()[0]

    def copy_direct(self, lines: Sequence[str], batch_id: str) -> None:
        """COPY straight into raw: only for ids not in raw yet (a conflict raises UniqueViolation)."""
        suffix = "\t" + copy_text(batch_id) + "\n"
        with self.conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY {} (source_id, source_modified_at, is_deleted, payload, batch_id) FROM STDIN").format(
                    self.table)
            ) as cp:
                step = 20000
                for i in range(0, len(lines), step):
                    cp.write("".join(line[:-1] + suffix for line in lines[i:i + step]))

    def merge(self, batch_id: str, unique_ids: bool) -> int:
        """Upsert the stage into raw; returns rows inserted or changed."""
        source = sql.SQL("SELECT * FROM {}").format(self.stage)
        if not unique_ids:  # the same id twice in one batch: keep its latest version
            source = sql.SQL(
                "SELECT DISTINCT ON (source_id) * FROM {} ORDER BY source_id, source_modified_at DESC NULLS LAST"
            ).format(self.stage)
        cur = self.conn.execute(
            sql.SQL(
                """INSERT INTO {raw} AS r (source_id, source_modified_at, is_deleted, batch_id, loaded_at, payload)
                   SELECT s.source_id, s.source_modified_at, s.is_deleted, %(batch)s, now(), s.payload
                   FROM ({source}) s
                   ON CONFLICT (source_id) DO UPDATE SET
                     source_modified_at = EXCLUDED.source_modified_at, is_deleted = EXCLUDED.is_deleted,
                     batch_id = EXCLUDED.batch_id, loaded_at = EXCLUDED.loaded_at, payload = EXCLUDED.payload
                   WHERE (r.source_modified_at IS NULL OR EXCLUDED.source_modified_at IS NULL
                          OR EXCLUDED.source_modified_at >= r.source_modified_at)
                     AND (r.payload IS DISTINCT FROM EXCLUDED.payload OR r.is_deleted IS DISTINCT FROM EXCLUDED.is_deleted)"""
            ).format(raw=self.table, source=source),
            {"batch": batch_id},
        )
        changed = cur.rowcount
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.stage))
        return changed

    # -- deletes ---------------------------------------------------------------------------------
    def apply_tombstones(self, tombstones: Sequence[Tombstone], batch_id: str) -> int:
        """Mark reported deletes; ids never loaded get a tombstone row so the delete is visible."""
        if not tombstones:
            return 0
        with self.conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY {} (source_id, source_modified_at, is_deleted, payload) FROM STDIN").format(self.stage)
            ) as cp:
                for t in tombstones:
                    deleted_at = t.deleted_at.isoformat() if isinstance(t.deleted_at, datetime) else t.deleted_at
                    payload = t.payload if t.payload is not None else {"id": t.source_id, "deleted_at": deleted_at}
                    cp.write_row((t.source_id, deleted_at, True, json.dumps(payload)))
        cur = self.conn.execute(
            sql.SQL(
                """INSERT INTO {raw} AS r (source_id, source_modified_at, is_deleted, batch_id, loaded_at, payload)
                   SELECT DISTINCT ON (source_id) source_id, source_modified_at, true, %(batch)s, now(), payload
                   FROM {stage} ORDER BY source_id, source_modified_at DESC NULLS LAST
                   ON CONFLICT (source_id) DO UPDATE SET
                     is_deleted = true, batch_id = EXCLUDED.batch_id, loaded_at = EXCLUDED.loaded_at,
                     source_modified_at = GREATEST(r.source_modified_at, EXCLUDED.source_modified_at)
                   WHERE NOT r.is_deleted
                     AND (EXCLUDED.source_modified_at IS NULL OR r.source_modified_at IS NULL
                          OR EXCLUDED.source_modified_at >= r.source_modified_at)"""
            ).format(raw=self.table, stage=self.stage),
            {"batch": batch_id},
        )
        changed = cur.rowcount
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.stage))
        return changed

    def stage_live_ids(self, ids: Iterable[str]) -> None:
        """Collect the ids the system still lists (reconciliation / snapshot diff)."""
        with self.conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (source_id) FROM STDIN").format(self.ids_stage)) as cp:
                cp.write("".join(f"{copy_text(i)}\n" for i in ids))

    def clear_live_ids(self) -> None:
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.ids_stage))

    def missing_ids(self) -> list[str]:
        """Live raw ids absent from the id stage (an anti-join in Postgres: only the difference
        comes back to Python)."""
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.ids_stage))
        return [r[0] for r in self.conn.execute(
            sql.SQL("""SELECT r.source_id FROM {raw} r WHERE NOT r.is_deleted
                       AND NOT EXISTS (SELECT 1 FROM {ids} i WHERE i.source_id = r.source_id)""")
            .format(raw=self.table, ids=self.ids_stage)).fetchall()]

    def live_count(self) -> int:
        return self.conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE NOT is_deleted").format(self.table)).fetchone()[0]

    def count_missing(self) -> tuple[int, int]:
        """(live raw rows whose id is not in the id stage, live raw rows)."""
        return self.conn.execute(
            sql.SQL(
                """SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {ids} i WHERE i.source_id = r.source_id)),
                          count(*)
                   FROM {raw} r WHERE NOT r.is_deleted"""
            ).format(raw=self.table, ids=self.ids_stage)
        ).fetchone()

    def delete_missing(self, batch_id: str) -> int:
        """Mark raw rows whose id the system no longer lists as deleted; clears the id stage."""
        cur = self.conn.execute(
            sql.SQL(
                """UPDATE {raw} r SET is_deleted = true, batch_id = %(batch)s, loaded_at = now()
                   WHERE NOT r.is_deleted AND NOT EXISTS (SELECT 1 FROM {ids} i WHERE i.source_id = r.source_id)"""
            ).format(raw=self.table, ids=self.ids_stage),
            {"batch": batch_id},
        )
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.ids_stage))
        return cur.rowcount


    # -- delete sweeps by creation time (handoff.extract.sweep) -----------------------------------
    @property
    def created_stage(self) -> sql.Identifier:
        return sql.Identifier(f"_created_{self.source}_{self.stream}")

    def stage_created(self, field: str, before: datetime) -> int:
        """Snapshot (id, creation time) of the live raw rows created before `before` into a session
        table indexed by creation time: one scan of raw per sweep (the creation time lives in the
        payload, so raw has no index on it); every range count and anti-join of the sweep then
        reads the snapshot. `field` is the payload's creation-time field (carrying its offset).
        Returns the rows snapshotted."""
        t = self.created_stage
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (source_id text, created timestamptz)").format(t))
        n = self.conn.execute(
            sql.SQL("""INSERT INTO {t} (source_id, created)
                       SELECT source_id, c FROM (SELECT source_id, (payload->>%(f)s)::timestamptz AS c
                                                 FROM {raw} WHERE NOT is_deleted) r
                       WHERE c < %(before)s""").format(t=t, raw=self.table),
            {"f": field, "before": before}).rowcount
        self.conn.execute(sql.SQL("CREATE INDEX ON {} (created)").format(t))  # after the rows: one sort
        self.conn.execute(sql.SQL("ANALYZE {}").format(t))
        return n

    def created_histogram(self) -> tuple[array, array]:
        """The snapshot's distribution: (each creation second, as epoch seconds ascending; how many
        rows were created up to and including it), 16 bytes a distinct second. One row back: two
        comma-joined lists (parsing 1M rows one by one costs seconds, a split a tenth of one)."""
        seconds, counts = self.conn.execute(
            sql.SQL("""SELECT coalesce(string_agg(s::text, ',' ORDER BY s), ''), coalesce(string_agg(c::text, ',' ORDER BY s), '')
                       FROM (SELECT floor(extract(epoch FROM created))::bigint AS s, count(*) AS c FROM {} GROUP BY 1) h""")
            .format(self.created_stage)).fetchone()
        if not seconds:
            return array("q"), array("q")
        return array("q", map(int, seconds.split(","))), array("q", accumulate(map(int, counts.split(","))))

    def missing_created(self, since: datetime | None, before: datetime) -> list[str]:
        """Snapshot ids created in [since, before) (since None: from the beginning) absent from the
        id stage: raw holds them live, the listing of that range did not return them."""
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.ids_stage))
        return [r[0] for r in self.conn.execute(
            sql.SQL("""SELECT c.source_id FROM {created} c
                       WHERE (%(since)s::timestamptz IS NULL OR c.created >= %(since)s) AND c.created < %(before)s
                         AND NOT EXISTS (SELECT 1 FROM {ids} i WHERE i.source_id = c.source_id)""")
            .format(created=self.created_stage, ids=self.ids_stage), {"since": since, "before": before}).fetchall()]

    def unheld_ids(self) -> list[str]:
        """Ids in the id stage that raw does not hold live (never loaded, or marked deleted): records
        raw lacks."""
        return [r[0] for r in self.conn.execute(
            sql.SQL("""SELECT DISTINCT i.source_id FROM {ids} i
                       WHERE NOT EXISTS (SELECT 1 FROM {raw} r WHERE r.source_id = i.source_id AND NOT r.is_deleted)
                       ORDER BY 1""").format(raw=self.table, ids=self.ids_stage)).fetchall()]


class Quality:
    """Rejected records and schema drift for one stream (in the caller's transaction)."""

    def __init__(self, conn, source: str, stream: str, declared: Iterable[str]):
        self.conn, self.source, self.stream = conn, source, stream
        self.declared = frozenset(declared)
        rows = conn.execute(
            "SELECT field FROM ops.stream_fields WHERE source = %s AND stream = %s", (source, stream)
        ).fetchall()
        self.known: set[str] = {r[0] for r in rows}
        self.changes: list[tuple[str, str]] = []

    def reject(self, batch_id: str, rejects: Sequence[tuple[str | None, str, str]]) -> None:
        """rejects: (source id, reason, payload JSON text)."""
        if not rejects:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO ops.rejected_records (source, stream, batch_id, source_id, reason, payload)
                   VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING""",
                [(self.source, self.stream, batch_id, sid, reason, payload) for sid, reason, payload in rejects],
            )

    def observe_fields(self, batch_id: str, seen: set[str], samples: dict[str, object]) -> list[tuple[str, str]]:
        """Record fields new since the baseline and declared fields absent from a whole batch."""
        changes: list[tuple[str, str, object]] = []
        baseline = not self.known
        new = seen - self.known
        if new:
            with self.conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO ops.stream_fields (source, stream, field, first_batch_id)
                       VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    [(self.source, self.stream, f, batch_id) for f in sorted(new)],
                )
            if not baseline:
                changes += [(f, "added", samples.get(f)) for f in sorted(new)]
            self.known |= new
        if seen:
            changes += [(f, "missing", None) for f in sorted(self.declared - seen)]
        if changes:
            with self.conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO ops.schema_changes (source, stream, field, change, batch_id, sample)
                       VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING""",
                    [
                        (self.source, self.stream, f, ch, batch_id, json.dumps(sample, default=str))
                        for f, ch, sample in changes
                    ],
                )
        return [(f, ch) for f, ch, _ in changes]

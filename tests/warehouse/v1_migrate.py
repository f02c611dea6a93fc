# Frozen copy of include/handoff/warehouse/migrate.py at commit 8816175, the last unversioned schema
# (version 1): the tests build a warehouse exactly as that code did, then upgrade it. Never edit.
"""Idempotent DDL for `ops` (extract bookkeeping) and `raw_<source>` (landed records).

Raw table shape (one row per source id, the latest version seen):

    source_id           text primary key   the system's record id
    source_modified_at  timestamptz        the system's modification time of that version
    is_deleted          boolean            true once the system reports the record deleted
    batch_id            text               the extract batch that last changed the row
    loaded_at           timestamptz        when that batch committed
    payload             jsonb              the record exactly as the API returned it

Why latest-version-only: reruns and overlapping windows are idempotent by construction (an
upsert that never replaces a newer version), table size follows the source not the run count,
and "net raw content equals the source" is one query: `payload` of the rows where not
`is_deleted`. History is the transform layer's job (dbt snapshots read these tables).

`migrate(conn)` may run concurrently from several tasks: it serialises on an advisory lock and
every statement is `IF NOT EXISTS`-style, so running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

LOCK_KEY = 0x48414E44  # "HAND": serialises concurrent migrations
SCHEMA_VERSION = 1
LOADER, TRANSFORMER, ANALYST = "handoff_loader", "handoff_transformer", "handoff_analyst"

RAW_COLUMNS = ("source_id", "source_modified_at", "is_deleted", "batch_id", "loaded_at", "payload")

OPS_DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """CREATE TABLE IF NOT EXISTS ops.schema_migrations (
        version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""",
    # Cursor per stream; advanced in the same transaction as the rows it covers.
    """CREATE TABLE IF NOT EXISTS ops.extract_state (
        source text NOT NULL, stream text NOT NULL,
        cursor_ts timestamptz,
        cursor_extra jsonb NOT NULL DEFAULT '{}'::jsonb,
        last_batch_id text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, stream))""",
    """CREATE TABLE IF NOT EXISTS ops.extract_runs (
        batch_id text PRIMARY KEY,
        dag_id text, dag_run_id text, task_id text, try_number int,
        source text NOT NULL, stream text NOT NULL,
        mode text NOT NULL,
        window_start timestamptz, window_end timestamptz,
        started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
        pages int NOT NULL DEFAULT 0, records int NOT NULL DEFAULT 0,
        rejects int NOT NULL DEFAULT 0, deletes int NOT NULL DEFAULT 0,
        retries int NOT NULL DEFAULT 0, duration_s double precision,
        outcome text NOT NULL DEFAULT 'running', error text)""",
    "CREATE INDEX IF NOT EXISTS extract_runs_stream_idx ON ops.extract_runs (source, stream, started_at)",
    """CREATE TABLE IF NOT EXISTS ops.rejected_records (
        id bigserial PRIMARY KEY,
        source text NOT NULL, stream text NOT NULL, batch_id text NOT NULL,
        source_id text, reason text NOT NULL, payload jsonb,
        rejected_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX IF NOT EXISTS rejected_records_stream_idx ON ops.rejected_records (source, stream)",
    # A record rejected again by a look-back or rerun is not a new rejection.
    """CREATE UNIQUE INDEX IF NOT EXISTS rejected_records_once
       ON ops.rejected_records (source, stream, coalesce(source_id, ''), reason, md5(payload::text))""",
    # Fields seen per stream (the baseline for drift detection) and the changes detected.
    """CREATE TABLE IF NOT EXISTS ops.stream_fields (
        source text NOT NULL, stream text NOT NULL, field text NOT NULL,
        first_batch_id text, first_seen_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, stream, field))""",
    """CREATE TABLE IF NOT EXISTS ops.schema_changes (
        id bigserial PRIMARY KEY,
        source text NOT NULL, stream text NOT NULL, field text NOT NULL,
        change text NOT NULL CHECK (change IN ('added', 'missing')),
        batch_id text NOT NULL, detected_at timestamptz NOT NULL DEFAULT now(),
        sample jsonb,
        UNIQUE (source, stream, field, change))""",
]


def raw_table_name(source: str, stream: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(f"raw_{source}"), sql.Identifier(stream))


def _role_exists(conn, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


_WRITER_GRANTS = (
    "GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}",
    "GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON SEQUENCES TO {role}",
)
_READER_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
)


def _grant_schema(conn, schema: str, writers: Iterable[str], readers: Iterable[str]) -> None:
    ident = sql.Identifier(schema)
    for roles, grants in ((writers, _WRITER_GRANTS), (readers, _READER_GRANTS)):
        for role in roles:
            if not _role_exists(conn, role):
                continue
            for grant in grants:
                conn.execute(sql.SQL(grant).format(schema=ident, role=sql.Identifier(role)))
    # Tables the loader creates later (a new stream) must be readable too.
    if not _role_exists(conn, LOADER):
        return
    for role in readers:
        if not _role_exists(conn, role):
            continue
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
                    .format(sql.Identifier(LOADER), ident, sql.Identifier(role))
                )
        except Exception:  # not a member of handoff_loader: the migrating role owns the tables anyway
            pass


def ensure_raw_table(conn, source: str, stream: str) -> None:
    """Create `raw_<source>.<stream>` if missing (DDL in the caller's transaction)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(f"raw_{source}")))
    conn.execute(
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {} (
                source_id text PRIMARY KEY,
                source_modified_at timestamptz,
                is_deleted boolean NOT NULL DEFAULT false,
                batch_id text NOT NULL,
                loaded_at timestamptz NOT NULL DEFAULT now(),
                payload jsonb NOT NULL)"""
        ).format(raw_table_name(source, stream))
    )


def _default_streams() -> list[tuple[str, str]]:
    from handoff.extract.sources import all_streams

    return [(s.source, s.name) for s in all_streams()]


def migrate(conn, streams: Iterable[tuple[str, str]] | None = None) -> None:
    """Create or update ops and the raw tables of `streams` (default: every declared stream).

    `conn` is a psycopg 3 connection; the work runs in one transaction, committed on return.
    """
    streams = list(_default_streams() if streams is None else streams)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for ddl in OPS_DDL:
            conn.execute(ddl)
        conn.execute(
            "INSERT INTO ops.schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING", (SCHEMA_VERSION,)
        )
        _grant_schema(conn, "ops", writers=[LOADER], readers=[ANALYST])
        sources = sorted({src for src, _ in streams})
        for source, stream in streams:
            ensure_raw_table(conn, source, stream)
        for source in sources:
            _grant_schema(conn, f"raw_{source}", writers=[LOADER], readers=[TRANSFORMER])


def ensure_ready(conn, source: str, stream: str) -> None:
    """Migrate only when ops or this stream's raw table is missing (cheap check on every task)."""
    row = conn.execute(
        "SELECT to_regclass('ops.schema_migrations') IS NOT NULL AND to_regclass(%s) IS NOT NULL",
        (f'raw_{source}."{stream}"',),
    ).fetchone()
    if row[0]:
        version = conn.execute("SELECT max(version) FROM ops.schema_migrations").fetchone()[0]
        if version is not None and version >= SCHEMA_VERSION:
            return
    migrate(conn, [(source, stream)])

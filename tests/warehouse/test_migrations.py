"""Versioned warehouse migrations against the session's real PostgreSQL: upgrading a warehouse made
by the unversioned code, idempotence, concurrency, changed files, grants and the cheap ready check."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from handoff.platform import bootstrap
from handoff.warehouse import (
    LOCK_KEY,
    SCHEMA_VERSION,
    MigrationError,
    ensure_ready,
    load_migrations,
    migrate,
    pending,
)
from handoff.warehouse.migrate import MIGRATIONS_DIR

HERE = Path(__file__).parent
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OPS_TABLES = ("extract_runs", "extract_state", "rejected_records", "stream_fields", "schema_changes")
ALL = list(range(1, SCHEMA_VERSION + 1))  # every shipped migration


def _load_v1():
    spec = importlib.util.spec_from_file_location("handoff_warehouse_v1_migrate", HERE / "v1_migrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _url(pg, db: str, role: str) -> str:
    return pg.url(db) if role == "admin" else pg.cluster.url(db, user=bootstrap.ROLES[role])


def _rows(conn, table: str, columns: list[str]) -> list[str]:
    """Every row of `table` as PostgreSQL's text of the given columns (byte-for-byte comparable)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    query = sql.SQL("SELECT ROW({})::text FROM {} ORDER BY 1").format(cols, sql.SQL(table))
    return [r[0] for r in conn.execute(query).fetchall()]


def _columns(conn, schema: str, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema, table)).fetchall()]


def _versions(conn) -> list[tuple]:
    return conn.execute("SELECT version, name, checksum FROM ops.schema_migrations ORDER BY version").fetchall()


def _seed_v1(conn) -> None:
    """Data of every kind a version-1 warehouse holds, written the way the extract layer writes it."""
    runs = [  # batch_id, source, stream, started, finished (minutes after T0 or None), outcome, error
        ("k1", "kantata", "time_entries", 0, 5, "success", None),
        ("k2", "kantata", "time_entries", 60, 62, "success", None),
        ("k3", "kantata", "time_entries", 120, 121, "failed", "HTTPError: 503 from /time_entries"),
        ("s1", "salesforce", "Account", 10, 30, "success", None),
        ("s2", "salesforce", "Account", 90, None, "running", None),
        ("h1", "hubspot", "deals", 20, 21, "failed", "ReadTimeout: ü"),
    ]
    for batch, source, stream, started, finished, outcome, error in runs:
        conn.execute(
            """INSERT INTO ops.extract_runs (batch_id, dag_id, dag_run_id, task_id, try_number, source, stream,
                   mode, window_start, window_end, started_at, finished_at, pages, records, rejects, deletes,
                   retries, duration_s, outcome, error)
               VALUES (%s, %s, 'manual__1', %s, 1, %s, %s, 'incremental', %s, %s, %s, %s, 3, 250, 1, 2, 0,
                   1.25, %s, %s)""",
            (batch, f"extract_{source}", f"extract_{stream}", source, stream, T0 - timedelta(days=1), T0,
             T0 + timedelta(minutes=started), None if finished is None else T0 + timedelta(minutes=finished),
             outcome, error))
    conn.execute("""INSERT INTO ops.extract_state (source, stream, cursor_ts, cursor_extra, last_batch_id)
                    VALUES ('kantata', 'time_entries', %s, '{"ids": [1, 2], "note": "ünï"}', 'k2')""", (T0,))
    conn.execute("""INSERT INTO ops.rejected_records (source, stream, batch_id, source_id, reason, payload)
                    VALUES ('kantata', 'time_entries', 'k1', '77', 'missing updated_at', '{"id": 77}'),
                           ('kantata', 'time_entries', 'k1', NULL, 'no id', '{"x": [1.50, null]}')""")
    conn.execute("""INSERT INTO ops.stream_fields (source, stream, field, first_batch_id)
                    VALUES ('kantata', 'time_entries', 'id', 'k1'), ('kantata', 'time_entries', 'notes', 'k2')""")
    conn.execute("""INSERT INTO ops.schema_changes (source, stream, field, change, batch_id, sample)
                    VALUES ('kantata', 'time_entries', 'notes', 'added', 'k2', '"a note"')""")
    conn.execute("""INSERT INTO raw_kantata.time_entries
                        (source_id, source_modified_at, is_deleted, batch_id, loaded_at, payload)
                    SELECT i::text, %s + i * interval '1 minute', i %% 7 = 0, 'k2', %s,
                           jsonb_build_object('id', i, 'hours', i * 0.25, 'notes', 'ñ ' || i, 'tags', '[]'::jsonb)
                    FROM generate_series(1, 50) i""", (T0, T0))


def _snapshot(conn) -> dict[str, list[str]]:
    tables = [("ops", t) for t in OPS_TABLES] + [("raw_kantata", "time_entries"), ("ops", "schema_migrations")]
    snap = {}
    for schema, table in tables:
        columns = _columns(conn, schema, table)
        snap[f"{schema}.{table}"] = (columns, _rows(conn, f"{schema}.{table}", columns))
    return snap


@pytest.mark.parametrize("role", ["admin", "loader"])
def test_version_1_warehouse_with_data_is_upgraded_in_place(pg, warehouse_db, role):
    """`admin`: the deployment migrates on start; `loader`: an extract task's ensure_ready does it."""
    url = _url(pg, warehouse_db, role)
    with psycopg.connect(url, autocommit=True) as conn:
        _load_v1().migrate(conn, [("kantata", "time_entries")])  # exactly what the old code did
        _seed_v1(conn)
        before = _snapshot(conn)
        assert conn.execute("SELECT version FROM ops.schema_migrations").fetchall() == [(1,)]
        assert _columns(conn, "ops", "schema_migrations") == ["version", "applied_at"]
        assert pending(conn) == ALL[1:]

        if role == "admin":
            assert migrate(conn, [("kantata", "time_entries")]) == ALL[1:]
        else:
            ensure_ready(conn, "kantata", "time_entries")

        # Every row is still there, byte for byte (old columns; extract_runs gained `changed`).
        for table, (columns, rows) in before.items():
            if table != "ops.schema_migrations":
                assert _rows(conn, table, columns) == rows, table
        assert len(before["raw_kantata.time_entries"][1]) == 50
        # Version 1 is recognised (not re-applied: same applied_at) and adopted with its checksum.
        files = {m.version: m for m in load_migrations()}
        assert _versions(conn) == [(v, files[v].name, files[v].checksum) for v in ALL]
        assert _rows(conn, "ops.schema_migrations", ["version", "applied_at"])[0] == \
            before["ops.schema_migrations"][1][0]
        assert pending(conn) == [] and migrate(conn) == []

        assert _columns(conn, "ops", "extract_runs")[-1] == "changed"
        assert conn.execute("SELECT DISTINCT changed FROM ops.extract_runs").fetchall() == [(0,)]
        freshness = "SELECT * FROM ops.stream_freshness ORDER BY source, stream"
        m = lambda n: T0 + timedelta(minutes=n)  # noqa: E731
        assert conn.execute(freshness).fetchall() == [
            ("hubspot", "deals", None, None, m(20), "failed", "ReadTimeout: ü"),
            ("kantata", "time_entries", m(62), None, m(120), "failed", "HTTPError: 503 from /time_entries"),
            ("salesforce", "Account", m(30), None, m(90), "running", None),
        ]
        # Runs recorded after the upgrade say whether they changed raw.
        conn.execute("""INSERT INTO ops.extract_runs (batch_id, source, stream, mode, started_at, finished_at,
                            outcome, changed)
                        VALUES ('k4', 'kantata', 'time_entries', 'incremental', %s, %s, 'success', 3),
                               ('k5', 'kantata', 'time_entries', 'incremental', %s, %s, 'success', 0)""",
                     (m(180), m(181), m(240), m(241)))
        assert conn.execute("SELECT last_success_at, last_change_at, last_attempt_at, last_outcome, last_error "
                            "FROM ops.stream_freshness WHERE stream = 'time_entries'").fetchall() == \
            [(m(241), m(181), m(240), "success", None)]
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'extract_runs_success_idx'")
        assert "(source, stream, finished_at) WHERE (outcome = 'success'::text)" in index.fetchone()[0]

    _assert_freshness_readable(pg, warehouse_db)


def _assert_freshness_readable(pg, db: str) -> None:
    """dbt (transformer) reads ops.stream_freshness and the run logs, never the extract cursors;
    the analyst reads no ops relation."""
    with psycopg.connect(_url(pg, db, "transformer")) as conn:
        assert conn.execute("SELECT count(*) FROM ops.stream_freshness").fetchone()[0] >= 0
        assert conn.execute("SELECT count(*) FROM ops.extract_runs").fetchone()[0] >= 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT 1 FROM ops.extract_state")
    for rel in ("ops.stream_freshness", "ops.extract_runs"):
        with psycopg.connect(_url(pg, db, "analyst")) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {rel}")


def test_fresh_warehouse_migrates_once(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        assert pending(conn) == ALL and ALL[:4] == [1, 2, 3, 4]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # checks leave no txn open
        assert migrate(conn, [("kantata", "time_entries")]) == ALL
        applied_at = conn.execute("SELECT array_agg(applied_at ORDER BY version) FROM ops.schema_migrations")
        first = applied_at.fetchone()[0]
        assert migrate(conn, [("kantata", "time_entries")]) == []
        assert migrate(conn) == []
        assert conn.execute("SELECT array_agg(applied_at ORDER BY version) FROM ops.schema_migrations") \
            .fetchone()[0] == first
        assert pending(conn) == []
        assert [v for v, *_ in _versions(conn)] == ALL
        conn.execute("SELECT changed FROM ops.extract_runs, ops.stream_freshness LIMIT 0")


def test_concurrent_migrations_apply_each_version_once(warehouse_url):
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def run(name: str, stream: str) -> None:
        try:
            with psycopg.connect(warehouse_url) as conn:
                results[name] = migrate(conn, [("kantata", stream)])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with psycopg.connect(warehouse_url, autocommit=True) as holder:
        # Both migrators queue behind the lock, then race for it the moment it is released.
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", "time_entries"),
                                                                          ("b", "projects"))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline:
            waiting = holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND NOT granted AND objid = %s", (LOCK_KEY,)).fetchone()[0]
            time.sleep(0.05)
        assert waiting == 2, "both migrations must wait on the advisory lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert sorted(results.values()) == [[], ALL]
    with psycopg.connect(warehouse_url) as conn:
        assert [v for v, *_ in _versions(conn)] == ALL
        assert conn.execute("SELECT to_regclass('raw_kantata.time_entries') IS NOT NULL, "
                            "to_regclass('raw_kantata.projects') IS NOT NULL").fetchone() == (True, True)


def _copy_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def test_changed_applied_migration_fails_naming_the_file(warehouse_url, tmp_path):
    directory = _copy_migrations(tmp_path)
    with psycopg.connect(warehouse_url) as conn:
        assert migrate(conn, [("kantata", "time_entries")], directory=directory) == ALL
        changed = directory / "0002_stream_freshness.sql"
        changed.write_text(changed.read_text() + "\nCREATE TABLE ops.sneaked_in (x int);\n")
        for attempt in (lambda: migrate(conn, directory=directory),
                        lambda: ensure_ready(conn, "kantata", "time_entries", directory=directory)):
            with pytest.raises(MigrationError, match=r"0002_stream_freshness\.sql was changed after it was applied"):
                attempt()
        assert conn.execute("SELECT to_regclass('ops.sneaked_in')").fetchone()[0] is None
        assert [v for v, *_ in _versions(conn)] == ALL
        # Line endings alone are not a change (a checkout with CRLF conversion).
        crlf = directory / "0001_extract_bookkeeping.sql"
        changed.write_bytes((MIGRATIONS_DIR / changed.name).read_bytes())
        crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
        assert migrate(conn, directory=directory) == []


def test_later_migrations_ship_in_order_and_a_failing_one_applies_nothing(warehouse_url, tmp_path):
    directory = _copy_migrations(tmp_path)
    a, b, c = SCHEMA_VERSION + 1, SCHEMA_VERSION + 2, SCHEMA_VERSION + 3
    with psycopg.connect(warehouse_url) as conn:
        assert migrate(conn, directory=directory) == ALL
        (directory / f"{a:04d}_run_host.sql").write_text(
            "ALTER TABLE ops.extract_runs ADD COLUMN host text;\nCREATE TABLE ops.notes (note text);\n")
        (directory / f"{b:04d}_python_step.py").write_text(
            "def apply(conn):\n"
            "    for i in range(3):\n"
            "        conn.execute('INSERT INTO ops.notes VALUES (%s)', (f'note {i}',))\n")
        (directory / f"{c:04d}_broken.sql").write_text("ALTER TABLE ops.no_such_table ADD COLUMN x int;\n")
        with pytest.raises(MigrationError, match=rf"{c:04d}_broken\.sql failed: UndefinedTable"):
            migrate(conn, directory=directory)
        # One transaction: the two good ones were rolled back with the failure.
        assert pending(conn, directory=directory) == [a, b, c]
        assert conn.execute("SELECT to_regclass('ops.notes')").fetchone()[0] is None
        (directory / f"{c:04d}_broken.sql").unlink()
        assert migrate(conn, directory=directory) == [a, b]
        assert "host" in _columns(conn, "ops", "extract_runs")
        assert conn.execute("SELECT count(*) FROM ops.notes").fetchone()[0] == 3
        assert [(v, n) for v, n, _ in _versions(conn)][-2:] == [(a, f"{a:04d}_run_host.sql"),
                                                                (b, f"{b:04d}_python_step.py")]
        (directory / "0004-misnamed.sql").write_text("SELECT 1;\n")
        with pytest.raises(MigrationError, match="0004-misnamed.sql"):
            migrate(conn, directory=directory)


def test_schema_version_is_the_newest_file():
    files = sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    assert [f.name for f in files][:2] == ["0001_extract_bookkeeping.sql", "0002_stream_freshness.sql"]
    assert SCHEMA_VERSION == int(files[-1].name[:4]) == load_migrations()[-1].version


def test_migrate_is_idempotent_and_grants(warehouse_url):
    # Moved from tests/extract/test_loads.py; the raw tables are now passed in (the warehouse package
    # no longer reads the extract layer's stream declarations).
    streams = [("kantata", "time_entries"), ("kantata", "projects"), ("salesforce", "Account")]
    with psycopg.connect(warehouse_url) as conn:
        assert migrate(conn, streams) == ALL
        assert migrate(conn, streams) == []
        grants = conn.execute(
            """SELECT has_table_privilege('handoff_transformer', 'raw_kantata.time_entries', 'SELECT'),
                      has_table_privilege('handoff_transformer', 'raw_kantata.time_entries', 'INSERT'),
                      has_table_privilege('handoff_loader', 'raw_kantata.time_entries', 'INSERT'),
                      has_table_privilege('handoff_loader', 'ops.extract_state', 'UPDATE'),
                      has_table_privilege('handoff_transformer', 'raw_salesforce."Account"', 'SELECT'),
                      has_table_privilege('handoff_analyst', 'ops.extract_runs', 'SELECT'),
                      has_table_privilege('handoff_analyst', 'raw_kantata.time_entries', 'SELECT')""").fetchone()
        # reverse sync's ledger: loader writes, dbt reads, analyst nothing
        ledger = conn.execute(
            """SELECT has_table_privilege('handoff_loader', 'ops.erp_postings', 'INSERT, UPDATE'),
                      has_table_privilege('handoff_loader', 'ops.erp_posting_events', 'INSERT'),
                      has_sequence_privilege('handoff_loader', 'ops.erp_postings_posting_id_seq', 'USAGE'),
                      has_table_privilege('handoff_transformer', 'ops.erp_postings', 'SELECT'),
                      has_table_privilege('handoff_transformer', 'ops.erp_posting_events', 'SELECT'),
                      has_table_privilege('handoff_transformer', 'ops.erp_postings', 'UPDATE'),
                      has_table_privilege('handoff_analyst', 'ops.erp_postings', 'SELECT')""").fetchone()
        # incremental dbt models read "loaded since"
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'raw_salesforce' "
                             "AND indexname = 'Account_loaded_at_idx'").fetchone()[0]
    assert grants == (True, False, True, True, True, False, False)
    assert ledger == (True, True, True, True, True, False, False)
    assert index.endswith("(loaded_at)")


def test_admin_migrated_warehouse_serves_the_loader(pg, warehouse_db):
    """The deployment migrates as admin; extract tasks (loader) then add their raw tables."""
    with psycopg.connect(_url(pg, warehouse_db, "admin")) as conn:
        assert migrate(conn) == ALL
    with psycopg.connect(_url(pg, warehouse_db, "loader"), autocommit=True) as conn:
        ensure_ready(conn, "hubspot", "deals")
        conn.execute("INSERT INTO raw_hubspot.deals (source_id, batch_id, payload) VALUES ('1', 'b', '{}')")
        conn.execute("INSERT INTO ops.extract_runs (batch_id, source, stream, mode, finished_at, outcome, changed) "
                     "VALUES ('b', 'hubspot', 'deals', 'full_refresh', now(), 'success', 1)")
    with psycopg.connect(_url(pg, warehouse_db, "transformer")) as conn:
        assert conn.execute("SELECT source_id FROM raw_hubspot.deals").fetchall() == [("1",)]
        assert conn.execute("SELECT stream, last_outcome FROM ops.stream_freshness").fetchall() == \
            [("deals", "success")]
    _assert_freshness_readable(pg, warehouse_db)


def test_ensure_ready_on_a_current_warehouse_takes_no_lock(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        migrate(conn, [("kantata", "time_entries")])
    with psycopg.connect(warehouse_url, autocommit=True) as holder, psycopg.connect(warehouse_url) as conn:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        conn.execute("SET lock_timeout = '2s'")
        conn.commit()
        started = time.monotonic()
        ensure_ready(conn, "kantata", "time_entries")
        assert time.monotonic() - started < 1.0
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert len(_versions(conn)) == SCHEMA_VERSION
        conn.rollback()
        # Control: a missing raw table does need the lock, so the same call now waits and times out.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            ensure_ready(conn, "kantata", "projects")
        conn.rollback()
        assert conn.execute("SELECT to_regclass('raw_kantata.projects')").fetchone()[0] is None
        conn.rollback()
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        ensure_ready(conn, "kantata", "projects")
        assert conn.execute("SELECT to_regclass('raw_kantata.projects') IS NOT NULL").fetchone()[0]

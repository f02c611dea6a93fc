"""dbt benchmark: full and incremental builds of the Handoff dbt project on a simulated world.

    python bench/dbt.py [--scales default,bench:2000000] [--repeats 3] [--large-repeats 1]

Per scale (handoff.sim.scale: `default` is the ~30k-entry demo world, `bench:N` has N Kantata
time entries), on a private PostgreSQL cluster (handoff.platform.postgres, the platform's own
settings) in a temporary folder, one warehouse database per scale:
1. load: the simulators (SimCluster, seed 7) and `extract_everything` land every stream in raw,
   as the extract DAGs would; the simulators are stopped afterwards (dbt never talks to them).
   Steady state: raw is vacuumed and analysed, and the time entries' loaded_at moves a day back (in
   production they were loaded long before a cycle; right after a load canonical.time_entry's
   lookback window would cover the whole table and every cycle would re-read it).
2. parse_cold: `dbt parse` without a partial-parse file (the first invocation after a deploy).
3. full_build: `dbt build --full-refresh --exclude-resource-type unit_test`, the transform DAG's full
   refresh of the whole project (models, data tests, on-run-end grants; unit tests run in CI, not in
   the DAG); rows of every table the build made are counted afterwards.
4. fixed_cost: the same invocation with nothing to do (`dbt build --select <no match>`) and a warm
   `dbt parse`: what every dbt invocation costs before any SQL runs.
5. full_run / full_test (unless --skip-run-only): `dbt run --full-refresh` then `dbt test`.
6. incremental_build: 1% of the live Kantata time entries change in raw the way the extract's merge
   changes them (see `change_time_entries`): 95% of them edited (half an hour more, a new
   `updated_at`, new source_modified_at / batch_id / loaded_at = now()) and 5% deleted in the
   source (is_deleted = true, as the delete reconciliation marks them), plus the successful
   ops.extract_runs row the extract would write (changed > 0). Then exactly what the transform
   DAG builds in a cycle where Kantata time entries changed (include/handoff/transform/selection.py):
   `dbt build --select source:raw_kantata.time_entries+ --exclude-resource-type unit_test`; its
   incremental models and tests cost what the change costs (delta propagation, see
   dbt_project/macros/delta.sql). The edited and deleted ids are checked in canonical time_entry
   afterwards. incremental_project_build (informative): after another 1% change, `dbt build
   --exclude-resource-type unit_test` of the whole project without --full-refresh.
   incremental_run: `dbt run` (models only, whole project), after another 1% change.
7. cycle: one transform cycle from the asset event to the marts updated: one time entry edited in
   raw + its successful extract_runs row (the extract task's commit, after which it emits the raw
   asset event), then the transform DAG (dags/transform.py, handoff.transform) under `dag.test()`
   in a child process with its own Airflow metadata database: the `plan` task reads
   ops.extract_runs and selects `source:raw_kantata.time_entries+`, cosmos' WATCHER producer runs
   that one `dbt build`; "marts updated" = the producer's finish in ops.transform_runs. The first
   cycle (no good cycle yet: a full build) only sets the watermark and is not timed. Not included:
   the scheduler's hop from the asset event to the DAG run and per-task process start (about 1 s
   each with Airflow's defaults, see /work/shared/platform-notes.md). At scales of 500,000+
   entries, or with --cycle-fallback or when the DAG cannot run, the cycle is measured as that
   selection's `dbt build --select source:raw_kantata.time_entries+ --exclude-resource-type unit_test` alone.
Ratio = median incremental build (the selection) / median full build (whole project, full refresh;
target < 0.10 at 2M). Results: a table on
stdout and in <out>.md, everything in <out> (JSON; default bench/results/dbt.json).

The project is copied once at the start (the checkout may change while the benchmark runs); the
JSON records the commit and how many files under dbt_project/ were uncommitted.
Each phase runs `--repeats` times (`--large-repeats` at scales of 500,000 entries or more); full
and incremental alternate so they see the same cache state. Wall seconds are the whole `dbt`
process (interpreter start, parse, connections, SQL, hooks), as the transform task pays them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named dbt.py: never let it shadow the dbt package for anything imported below.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

REPO = _HERE.parent
DBT_DIR = REPO / "dbt_project"
RESULTS = REPO / "bench" / "results" / "dbt.json"
SEED = 7
SCHEMA_PREFIX = "bench_"
LARGE = 500_000  # scales at or above this many time entries use --large-repeats
TARGETS = {"ratio_max": 0.10, "ratio_scale_min_entries": 2_000_000, "cycle_max_s": 15.0, "fixed_cost_about_s": 2.0}
NO_MATCH = "bench_selects_nothing_zz"
# What the transform DAG runs (include/handoff/transform/selection.py, producer.py): a full refresh of
# the whole project, and, in a cycle where Kantata time entries changed, what is downstream of them.
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
FULL_BUILD = ("build", "--full-refresh", *NO_UNIT_TESTS)
TIME_ENTRY_SELECTION = ("--select", "source:raw_kantata.time_entries+")
INCREMENTAL_BUILD = ("build", *TIME_ENTRY_SELECTION, *NO_UNIT_TESTS)
PROJECT_BUILD = ("build", *NO_UNIT_TESTS)


def write_results(out: Path, res: dict, md: str) -> None:
    """The results as JSON in `out` and the markdown beside it (.md), printed too (every benchmark)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(md)
    print()
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')}")


# ---- warehouse and world ----------------------------------------------------------------------
def start_postgres(workdir: Path):
    from handoff.platform.postgres import LocalPostgres, free_port

    cluster = LocalPostgres(root=workdir / "pg", port=free_port())
    cluster.init()
    cluster.start()
    return cluster


def load_world(cluster, db: str, scale: str) -> dict:
    """Roles, warehouse database, migrations and raw tables (as tests/transform/devworld.py), then
    every stream of a fresh simulated world extracted into raw."""
    import logging

    import psycopg
    import psycopg.sql

    from handoff.extract.everything import extract_everything
    from handoff.extract.sources import raw_tables
    from handoff.platform import bootstrap
    from handoff.platform.connections import connection_env
    from handoff.sim.cluster import SimCluster
    from handoff.sim.http import SimCredentials
    from handoff.warehouse.migrate import migrate

    logging.getLogger("handoff").setLevel(logging.WARNING)  # one line per stream and page otherwise
    bootstrap.bootstrap(cluster.url("postgres"), {}, warehouse_db=db, airflow_db=None)
    url = cluster.url(db)
    with psycopg.connect(url) as conn:
        migrate(conn, raw_tables())
    creds = SimCredentials("bench-" + secrets.token_hex(4), secrets.token_hex(16))
    t = time.perf_counter()
    with SimCluster(seed=SEED, scale=scale, credentials=creds) as sims:
        generate_s = round(time.perf_counter() - t, 2)
        os.environ.update(connection_env({s: sims.url(s) for s in sims.systems}, creds.client_id,
                                         creds.client_secret, url))
        t = time.perf_counter()
        results = extract_everything(url)
        rejects = sum(r.rejects for r in results)
        extract_s = round(time.perf_counter() - t, 2)
    # Steady state: in production raw has long been vacuumed and analysed by autovacuum; here its
    # first pass would otherwise run during the first timed builds. And the time entries were loaded
    # long before a cycle, not minutes before: their loaded_at moves a day back (as if loaded then).
    # (canonical.time_entry re-reads what was written since its previous build, so this no longer
    # changes what a cycle reads; until 2026-11-29 it re-read what was loaded within ten minutes of its
    # newest row, the whole first load.)
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        conn.execute("UPDATE raw_kantata.time_entries SET loaded_at = loaded_at - interval '1 day'")
        conn.execute("VACUUM FULL raw_kantata.time_entries")
        conn.execute("VACUUM ANALYZE")
        vacuum_s = round(time.perf_counter() - t, 2)
        raw = {f"{src}.{table}": conn.execute(psycopg.sql.SQL("SELECT count(*) FILTER (WHERE NOT is_deleted) FROM {}")
                                              .format(psycopg.sql.Identifier(f"raw_{src}", table))).fetchone()[0]
               for src, table in raw_tables()}
        raw_bytes = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE n.nspname LIKE 'raw\\_%' AND c.relkind = 'r'").fetchone()[0]
    return {"generate_s": generate_s, "extract_s": extract_s, "extract_rejects": rejects, "vacuum_analyze_s": vacuum_s, "raw_live_rows": raw,
            "raw_total_live_rows": sum(raw.values()), "raw_mb": round(float(raw_bytes or 0) / 2**20, 1),
            "time_entries": raw.get("kantata.time_entries", 0)}


# ---- dbt ----------------------------------------------------------------------------------------
def snapshot_project(workdir: Path) -> tuple[Path, dict]:
    """Copy dbt_project/ once: every phase and scale builds the same models, whatever changes in the
    checkout meanwhile. Returns (copy, provenance: git commit and whether dbt_project/ was dirty)."""
    dest = workdir / "dbt_project"
    shutil.copytree(DBT_DIR, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    prov: dict = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        prov["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                        check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dbt_project"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.splitlines()
        prov["dbt_project_uncommitted_files"] = len(dirty)
    prov["models"] = sum(1 for _ in (dest / "models").rglob("*.sql"))
    return dest, prov


class Dbt:
    """`dbt` as a subprocess against one warehouse database, as the transformer role."""

    def __init__(self, cluster, db: str, workdir: Path, project: Path):
        self.project = project
        self.exe = str(Path(sys.executable).parent / "dbt")
        self.target = workdir / "target"
        self.logs = workdir / "logs"
        self.out = workdir / "out"
        for d in (self.target, self.logs, self.out):
            d.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, HANDOFF_DBT_HOST=cluster.host, HANDOFF_DBT_PORT=str(cluster.port),
                        HANDOFF_DBT_DBNAME=db, HANDOFF_DBT_USER="handoff_transformer", HANDOFF_DBT_PASSWORD="x",
                        HANDOFF_DBT_SCHEMA_PREFIX=SCHEMA_PREFIX, DBT_TARGET_PATH=str(self.target),
                        DBT_LOG_PATH=str(self.logs), DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1",
                        DBT_PROFILES_DIR=str(project), DBT_PROJECT_DIR=str(project))
        self.env.pop("PYTHONPATH", None)
        self.n = 0

    def __call__(self, *args: str, label: str, timeout: float = 7200) -> dict:
        """Run one dbt command; returns wall seconds, rc, node counts and the slowest nodes."""
        self.n += 1
        log = self.out / f"{self.n:02d}-{label}.log"
        rr = self.target / "run_results.json"
        rr.unlink(missing_ok=True)
        cmd = [self.exe, *args]
        load1 = round(os.getloadavg()[0], 2)
        t = time.perf_counter()
        with log.open("w") as fh:
            proc = subprocess.run(cmd, cwd=self.project, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        seconds = round(time.perf_counter() - t, 3)
        out = {"command": "dbt " + " ".join(args), "seconds": seconds, "rc": proc.returncode, "loadavg_1m": load1}
        if rr.exists():
            out.update(summarize_run_results(json.loads(rr.read_text())))
        if proc.returncode != 0:
            out["log_tail"] = log.read_text(errors="replace")[-3000:]
        return out


def summarize_run_results(rr: dict) -> dict:
    res = rr.get("results", [])
    status: dict[str, int] = {}
    for r in res:
        kind = r["unique_id"].split(".", 1)[0]
        key = f"{kind}:{r['status']}"
        status[key] = status.get(key, 0) + 1
    slow = sorted(res, key=lambda r: r.get("execution_time") or 0, reverse=True)[:8]
    failed = [{"node": r["unique_id"], "status": r["status"], "message": (r.get("message") or "")[:400]}
              for r in res if r["status"] in ("error", "fail", "runtime error")]
    by_kind: dict[str, float] = {}
    for r in res:
        kind = r["unique_id"].split(".", 1)[0]
        by_kind[kind] = round(by_kind.get(kind, 0) + (r.get("execution_time") or 0), 2)
    return {"nodes": len(res), "status": status, "elapsed_s": round(rr.get("elapsed_time") or 0, 2),
            "node_seconds_by_kind": by_kind, "failed": failed,
            "slowest": [{"node": r["unique_id"], "s": round(r.get("execution_time") or 0, 2),
                         "status": r["status"]} for r in slow]}


def dbt_ok(r: dict) -> bool:
    return r["rc"] == 0


# ---- raw changes -------------------------------------------------------------------------------
def change_time_entries(url: str, share: float, delete_fraction: float, salt: str) -> dict:
    """Change `share` of the live Kantata time entries in raw, in one transaction, as one extract
    run's merge would: edited rows get a new version (minutes + 30, a new `updated_at` after every
    existing one; source_modified_at, batch_id and loaded_at = now() updated, like load.merge), deleted
    rows are marked is_deleted (like load.delete_missing: payload and source_modified_at kept).
    The rows are drawn deterministically from `salt`. One ops.extract_runs row (outcome success,
    changed = rows changed) records the run, as the extract's run log does."""
    import psycopg

    batch = f"kantata.time_entries.bench.{salt}"
    with psycopg.connect(url) as conn:
        live, newest = conn.execute("SELECT count(*), max(source_modified_at) FROM raw_kantata.time_entries "
                                    "WHERE NOT is_deleted").fetchone()
        k = max(1, round(live * share))
        n_del = round(k * delete_fraction)
        n_edit = k - n_del
        stamp = max(datetime.now(UTC).replace(microsecond=0), (newest or datetime.now(UTC)) + timedelta(seconds=1))
        ids = [r[0] for r in conn.execute(
            "SELECT source_id FROM raw_kantata.time_entries WHERE NOT is_deleted ORDER BY md5(source_id || %s) "
            "LIMIT %s", (salt, k)).fetchall()]
        edit_ids, del_ids = ids[:n_edit], ids[n_edit:]
        conn.execute("INSERT INTO ops.extract_runs (batch_id, source, stream, mode, window_start, window_end, "
                     "started_at) VALUES (%s, 'kantata', 'time_entries', 'incremental', %s, %s, now())",
                     (batch, newest, stamp))
        edited = conn.execute(
            """UPDATE raw_kantata.time_entries SET
                 payload = jsonb_set(jsonb_set(payload, '{time_in_minutes}',
                                               to_jsonb((payload->>'time_in_minutes')::int + 30)),
                                     '{updated_at}', to_jsonb(%(iso)s::text)),
                 source_modified_at = %(stamp)s, batch_id = %(batch)s, loaded_at = now()
               WHERE source_id = ANY(%(ids)s)""",
            {"iso": stamp.isoformat(), "stamp": stamp, "batch": batch, "ids": edit_ids}).rowcount
        deleted = conn.execute(
            "UPDATE raw_kantata.time_entries SET is_deleted = true, batch_id = %(batch)s, loaded_at = now() "
            "WHERE source_id = ANY(%(ids)s) AND NOT is_deleted", {"batch": batch, "ids": del_ids}).rowcount
        conn.execute("UPDATE ops.extract_runs SET outcome = 'success', finished_at = now(), pages = 1, "
                     "records = %s, changed = %s, deletes = %s, duration_s = 0 WHERE batch_id = %s",
                     (edited, edited + deleted, deleted, batch))
    return {"live": live, "changed": edited + deleted, "edited": edited, "deleted": deleted,
            "updated_at": stamp.isoformat(), "batch_id": batch, "edit_ids": edit_ids, "del_ids": del_ids}


def time_entry_relation(url: str) -> str | None:
    """The canonical time entry table (schema-qualified), if the project has built it."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT table_schema, table_name FROM information_schema.columns "
                           "WHERE table_schema = %s AND table_name = 'time_entry' AND column_name = 'source_ids'",
                           (SCHEMA_PREFIX + "canonical",)).fetchone()
    return f'"{row[0]}"."{row[1]}"' if row else None


def snapshot_changed(url: str, rel: str | None, change: dict) -> dict | None:
    """Canonical rows of the changed ids: how many, their hours."""
    import psycopg

    if not rel:
        return None
    try:
        with psycopg.connect(url) as conn:
            e_n, e_h = conn.execute(f"SELECT count(*), coalesce(sum(hours), 0) FROM {rel} "  # noqa: S608
                                    "WHERE source_ids->>'kantata' = ANY(%s)", (change["edit_ids"],)).fetchone()
            d_n = conn.execute(f"SELECT count(*) FROM {rel} WHERE source_ids->>'kantata' = ANY(%s)",  # noqa: S608
                               (change["del_ids"],)).fetchone()[0]
            total = conn.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]  # noqa: S608
    except psycopg.Error:  # a table without `hours`: nothing to check
        return None
    return {"edited_rows": e_n, "edited_hours": float(e_h), "deleted_rows": d_n, "rows": total}


def verify_change(before: dict | None, after: dict | None, change: dict) -> dict:
    """After the incremental build: every edited entry carries its half hour more, no deleted one
    is left, and the table lost exactly the deleted rows."""
    if before is None or after is None:
        return {"ok": None, "why": "no canonical time_entry with source_ids"}
    want_hours = round(before["edited_hours"] + 0.5 * before["edited_rows"], 2)
    ok = (after["edited_rows"] == before["edited_rows"] and abs(after["edited_hours"] - want_hours) < 0.005
          and after["deleted_rows"] == 0 and after["rows"] == before["rows"] - before["deleted_rows"])
    return {"ok": ok, "before": before, "after": after, "expected_edited_hours": want_hours}


def count_rows(url: str) -> dict:
    """Rows of every table the build made (views are not counted: they hold nothing)."""
    import psycopg

    out = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema LIKE %s AND table_type = 'BASE TABLE' ORDER BY 1, 2",
                              (SCHEMA_PREFIX.replace("_", "\\_") + "%",)).fetchall()
        for s, t in tables:
            out[f"{s.removeprefix(SCHEMA_PREFIX)}.{t}"] = conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]  # noqa: S608
        mb = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE %s",
                          (SCHEMA_PREFIX.replace("_", "\\_") + "%",)).fetchone()[0]
    return {"tables": out, "total_rows": sum(out.values()), "mb": round(float(mb) / 2**20, 1)}


# ---- the transform cycle --------------------------------------------------------------------------
def airflow_env(cluster, db: str, workdir: Path, project: Path, artifacts: Path) -> dict:
    """An Airflow environment for `dag.test()` of the transform DAG, as the test suite builds it
    (tests/conftest.py): metadata DB on the same cluster, the repository's dags/ and plugins/, the
    warehouse connection as the loader (as the platform's), dbt as the transformer."""
    from handoff.platform import bootstrap
    from handoff.platform.airflow_env import scratch_airflow_environment
    from handoff.platform.connections import connection_env
    from handoff.platform.postgres import free_port

    bootstrap.bootstrap(cluster.url("postgres"), {}, warehouse_db=db, airflow_db="airflow")
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "AIRFLOW", "HANDOFF_DBT"))}
    env.update({
        **scratch_airflow_environment(home, cluster.url("airflow"), api_port=free_port()),
        **connection_env({}, "unused", "unused", cluster.url(db, user="handoff_loader")),
        "HANDOFF_DBT_PASSWORD": "x", "HANDOFF_DBT_SCHEMA_PREFIX": SCHEMA_PREFIX,
        "HANDOFF_DBT_PROJECT_DIR": str(project), "HANDOFF_DBT_ARTIFACTS": str(artifacts),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1",
        "HANDOFF_DEADLINES": "off",  # deadline alerts need a serialized DAG: not under dag.test()
    })
    env.pop("PYTHONPATH", None)
    return env


def child_cycles(url: str, repeats: int, label: str) -> None:
    """In a fresh process with the Airflow environment: the transform DAG's cycles under
    `dag.test()`. The first cycle builds everything (no good cycle yet: the watermark is set) and
    is not timed; each timed one follows a one-entry change in raw and its extract run row.
    Prints one `RESULT <json>` line."""
    import logging

    import airflow  # noqa: F401  (before cosmos)
    import psycopg

    from handoff.transform.dag import FRESHNESS_TASK_ID, build_dag

    logging.getLogger().setLevel(logging.INFO)
    dag = build_dag()
    out = []
    for i in range(repeats + 1):
        change = change_time_entries(url, 0.0, 0.0, f"{label}-dagtest-{i}") if i else None
        t0 = time.time()
        # source freshness runs beside the build in timer runs only (skipped for asset events)
        dr = dag.test(mark_success_pattern=f"^{FRESHNESS_TASK_ID}$")
        t1 = time.time()
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT run_id, mode, started_at, finished_at, outcome, select_args, cardinality(nodes_built), "
                "nodes_failed FROM ops.transform_runs ORDER BY run_id DESC LIMIT 1").fetchone()
        r = {"seed": i == 0, "dag_state": str(dr.state), "dag_test_s": round(t1 - t0, 3)}
        r.update(task_timeline(dr.run_id, t0))
        if row:
            r.update(run_id=row[0], mode=row[1], outcome=row[4], select=row[5], nodes_built=row[6],
                     nodes_failed=list(row[7] or []),
                     plan_s=round(row[2].timestamp() - t0, 3),
                     seconds=round(row[3].timestamp() - t0, 3) if row[3] else None)
        r["rc"] = 0 if r.get("outcome") == "success" and r["dag_state"].endswith("success") else 1
        if change:
            r["change"] = {k: v for k, v in change.items() if not k.endswith("_ids")}
        out.append(r)
        print(f"cycle {i}: {r}", file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(out, default=str), flush=True)


def task_timeline(run_id: str, t0: float) -> dict:
    """Where a dag.test() run spent its time: the plan and producer tasks' start and end (seconds
    after t0) and how many task instances ran (sensors included), from Airflow's metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from handoff.transform.producer import PLAN_TASK_ID

    with create_session() as session:
        tis = session.execute(select(TaskInstance.task_id, TaskInstance.start_date, TaskInstance.end_date,
                                     TaskInstance.state, TaskInstance.try_number)
                              .where(TaskInstance.run_id == run_id)).all()
    out: dict = {"task_instances": len(tis), "task_states": {}}
    for task_id, start, end, state, _ in tis:
        out["task_states"][str(state)] = out["task_states"].get(str(state), 0) + 1
        key = "plan" if task_id == PLAN_TASK_ID else "producer" if task_id.endswith("producer_watcher") else None
        if key and start:
            out[f"{key}_start_s"] = round(start.timestamp() - t0, 3)
            out[f"{key}_end_s"] = round(end.timestamp() - t0, 3) if end else None
    return out


def dag_test_cycles(cluster, db: str, dbt: Dbt, workdir: Path, project: Path, repeats: int, label: str) -> dict:
    """The transform DAG's cycles under `dag.test()` in a child process; {"how", "runs"} or raises."""
    artifacts = workdir / "artifacts"
    r = dbt("parse", "--target-path", str(artifacts), label="manifest")  # what `handoff up` does
    if not dbt_ok(r):
        raise RuntimeError(f"dbt parse for the manifest failed: {r.get('log_tail', '')[-800:]}")
    env = airflow_env(cluster, db, workdir, project, artifacts)
    airflow = str(Path(sys.executable).parent / "airflow")
    proc = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {proc.stderr[-1500:]}")
    log = dbt.out / "cycle-dag-test.log"
    with log.open("w") as fh:
        proc = subprocess.run([sys.executable, __file__, "--child-cycles", cluster.url(db), "--repeats", str(repeats),
                               "--label", label], env=env, stdout=fh, stderr=subprocess.STDOUT, text=True,
                              timeout=3600, check=False)
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"dag.test() cycles failed ({proc.returncode}): "
                           f"{log.read_text(errors='replace')[-2500:]}")
    return {"how": "dag.test() of the transform DAG (plan + cosmos WATCHER producer's dbt build)",
            "runs": json.loads(lines[-1].removeprefix("RESULT "))}


def dbt_select_cycles(url: str, dbt: Dbt, repeats: int, label: str) -> dict:
    """Fallback: a dbt build of what is downstream of Kantata time entries (the transform DAG's
    selection for that change), after a one-entry change."""
    runs = []
    for i in range(repeats):
        change = change_time_entries(url, 0.0, 0.0, f"{label}-select-{i}")
        r = dbt(*INCREMENTAL_BUILD, label=f"cycle{i}")
        r["change"] = {k: v for k, v in change.items() if not k.endswith("_ids")}
        runs.append(r)
    return {"how": "dbt " + " ".join(INCREMENTAL_BUILD), "runs": runs}


# ---- one scale ---------------------------------------------------------------------------------
def med(rows: list[dict], key: str = "seconds"):
    """Median over the repeats, failed ones included (a failing data test still builds everything;
    failures are listed in the summary)."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(vals), 3) if vals else None


def bench_scale(cluster, scale: str, workdir: Path, project: Path, provenance: dict, a) -> dict:
    label = scale.replace(":", "_")
    started = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
               "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    db = f"bench_{label}"
    print(f"[{scale}] loading the world into raw ...", flush=True)
    world = load_world(cluster, db, scale)
    print(f"[{scale}] raw: {world['time_entries']:,} time entries, {world['raw_total_live_rows']:,} live rows in "
          f"all ({world['raw_mb']} MB); world generated in {world['generate_s']} s, extracted in "
          f"{world['extract_s']} s", flush=True)
    url = cluster.url(db)
    dbt = Dbt(cluster, db, workdir / label, project)
    repeats = a.large_repeats if world["time_entries"] >= LARGE else a.repeats
    ph: dict[str, list[dict]] = {k: [] for k in (
        "version", "parse_cold", "full_build", "fixed_cost_noop", "fixed_cost_parse", "full_run", "full_test",
        "incremental_build", "incremental_project_build", "incremental_run", "cycle")}
    checks: list[dict] = []
    cycle_error = None

    def show(name: str, r: dict, extra: str = "") -> None:
        st = ", ".join(f"{k} {v}" for k, v in sorted(r.get("status", {}).items()))
        print(f"[{scale}] {name:18s} {r['seconds']:8.2f} s  rc {r['rc']}  {st}{extra}", flush=True)
        for f in r.get("failed", [])[:5]:
            print(f"      FAILED {f['node']}: {f['message'][:200]}", flush=True)
        if r["rc"] != 0 and not r.get("failed"):
            print("      " + r.get("log_tail", "")[-1200:].replace("\n", "\n      "), flush=True)

    run_only = not a.skip_run_only and (world["time_entries"] < LARGE or a.large_run_only)
    if a.cycle_only:
        repeats = 0
    r = dbt("--version", label="version")  # interpreter start + dbt's imports: the floor of every invocation
    ph["version"].append(r)
    show("dbt --version", r)
    r = dbt("parse", "--no-partial-parse", label="parse_cold")
    ph["parse_cold"].append(r)
    show("parse (cold)", r)
    if not dbt_ok(r):  # nothing can build: stop here rather than time failures
        raise RuntimeError(f"dbt parse fails on the project snapshot: {r.get('log_tail', '')[-600:]}")
    rows = None
    salt_n = 0
    for i in range(repeats):
        r = dbt(*FULL_BUILD, label=f"full_build{i}")
        ph["full_build"].append(r)
        show("full build", r)
        if i == 0:
            rows = count_rows(url)
            print(f"[{scale}] built {len(rows['tables'])} tables, {rows['total_rows']:,} rows, {rows['mb']} MB",
                  flush=True)
        for name, args in (("fixed_cost_noop", ("build", "--select", NO_MATCH)), ("fixed_cost_parse", ("parse",))):
            r = dbt(*args, label=name)
            ph[name].append(r)
            show(name, r)
        rel = time_entry_relation(url)
        salt_n += 1
        change = change_time_entries(url, a.touch_share, a.delete_fraction, f"{label}-{salt_n}")
        before = snapshot_changed(url, rel, change)
        r = dbt(*INCREMENTAL_BUILD, label=f"incremental_build{i}")
        r["change"] = {k: v for k, v in change.items() if not k.endswith("_ids")}
        r["check"] = verify_change(before, snapshot_changed(url, rel, change), change)  # rc 1: a failed test
        if r["check"]:
            checks.append(r["check"])
        ph["incremental_build"].append(r)
        show("incremental build", r, f"  ({change['edited']:,} edited, {change['deleted']:,} deleted; "
                                     f"check {'ok' if (r['check'] or {}).get('ok') else (r['check'] or {}).get('ok')})")
        # informative: the whole project without --full-refresh after another 1% change
        salt_n += 1
        change = change_time_entries(url, a.touch_share, a.delete_fraction, f"{label}-{salt_n}")
        before = snapshot_changed(url, rel, change)
        r = dbt(*PROJECT_BUILD, label=f"incremental_project_build{i}")
        r["change"] = {k: v for k, v in change.items() if not k.endswith("_ids")}
        r["check"] = verify_change(before, snapshot_changed(url, rel, change), change)
        if r["check"]:
            checks.append(r["check"])
        ph["incremental_project_build"].append(r)
        show("incr. project build", r)
        if run_only:
            salt_n += 1
            change = change_time_entries(url, a.touch_share, a.delete_fraction, f"{label}-{salt_n}")
            r = dbt("run", label=f"incremental_run{i}")
            r["change"] = {k: v for k, v in change.items() if not k.endswith("_ids")}
            ph["incremental_run"].append(r)
            show("incremental run", r)
    if run_only and not a.cycle_only:
        for i in range(repeats):
            r = dbt("run", "--full-refresh", label=f"full_run{i}")
            ph["full_run"].append(r)
            show("full run", r)
            r = dbt("test", label=f"full_test{i}")
            ph["full_test"].append(r)
            show("test", r)
    n_cycles = max(repeats, a.cycles)
    cyc = None
    if not a.cycle_fallback and world["time_entries"] < LARGE:  # at large scales its seed cycle is a full build
        try:
            cyc = dag_test_cycles(cluster, db, dbt, workdir / label, project, n_cycles, label)
        except Exception as exc:  # noqa: BLE001  (reported, then the fallback measures the cycle)
            print(f"[{scale}] transform DAG cycle not measurable: {exc}", flush=True)
            cycle_error = f"{type(exc).__name__}: {str(exc)[-1500:]}"
    if cyc is None:
        cyc = dbt_select_cycles(url, dbt, n_cycles, label)
    how = cyc["how"]
    for r in cyc["runs"]:
        if r.get("seed"):
            ph.setdefault("cycle_seed", []).append(r)
            print(f"[{scale}] cycle (seed)       dag.test {r['dag_test_s']:.2f} s, {r.get('mode')} build, "
                  f"{r.get('outcome')}", flush=True)
            continue
        r.setdefault("seconds", None)
        ph["cycle"].append(r)
        extra = f"  dag.test {r['dag_test_s']:.2f} s, {r.get('nodes_built')} nodes" if "dag_test_s" in r else ""
        print(f"[{scale}] cycle              {r['seconds'] or 0:8.2f} s  rc {r['rc']}{extra}  ({how})", flush=True)
        for f in r.get("failed", [])[:3] + [{"node": n, "message": ""} for n in r.get("nodes_failed", [])[:3]]:
            print(f"      FAILED {f['node']} {f['message'][:200]}", flush=True)

    full, inc, inc_project = med(ph["full_build"]), med(ph["incremental_build"]), med(ph["incremental_project_build"])
    full_run, inc_run = med(ph["full_run"]), med(ph["incremental_run"])
    summary = {
        "full_build_s": full, "incremental_build_s": inc,
        "ratio_build": round(inc / full, 3) if full and inc else None,
        "incremental_project_build_s": inc_project,
        "ratio_project_build": round(inc_project / full, 3) if full and inc_project else None,
        "full_run_s": full_run, "incremental_run_s": inc_run,
        "ratio_run": round(inc_run / full_run, 3) if full_run and inc_run else None,
        "full_test_s": med(ph["full_test"]), "dbt_version_s": med(ph["version"]), "parse_cold_s": med(ph["parse_cold"]),
        "fixed_cost_noop_s": med(ph["fixed_cost_noop"]), "fixed_cost_parse_s": med(ph["fixed_cost_parse"]),
        "cycle_s": med(ph["cycle"]), "cycle_how": how, "cycle_error": cycle_error,
        "cycle_dag_test_s": med(ph["cycle"], "dag_test_s"),
        "failed_invocations": [f"{k}: {r.get('command', k)} rc {r['rc']} " + ", ".join(f["node"] for f in r.get("failed", []))
                               for k, rs in ph.items() for r in rs if not dbt_ok(r)],
        "incremental_checks_ok": all(c["ok"] for c in checks) if checks and None not in
        [c["ok"] for c in checks] else None,
    }
    # drop the scale's database: the next scale gets the disk and the cache
    import psycopg

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    started["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    started["minutes"] = round((datetime.now(UTC) - datetime.fromisoformat(started["date"])).total_seconds() / 60, 1)
    return {"scale": scale, "repeats": repeats, "run": started, "dbt_project": provenance, "world": world, "rows": rows, "summary": summary, "phases": ph}


# ---- report ----------------------------------------------------------------------------------------
def machine_info(cluster) -> dict:
    import psycopg

    with psycopg.connect(cluster.url("postgres")) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    versions = {}
    for dist in ("dbt-core", "dbt-postgres", "apache-airflow", "astronomer-cosmos"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "cpu": cpu, "mem_mb": mem,
            "python": platform.python_version(), "postgres": pg, "postgres_binaries": cluster.origin,
            "platform": platform.platform(), "versions": versions,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def evaluate_targets(scales: list[dict]) -> list[dict]:
    out = []
    big = [s for s in scales if s["world"]["time_entries"] >= TARGETS["ratio_scale_min_entries"] * 0.95]
    for s in big:
        v = s["summary"]["ratio_build"]
        out.append({"target": f"incremental/full build ratio < {TARGETS['ratio_max']} at {s['scale']}",
                    "value": v, "max": TARGETS["ratio_max"], "met": None if v is None else v < TARGETS["ratio_max"]})
    if not big:
        out.append({"target": f"incremental/full build ratio < {TARGETS['ratio_max']} at 2M entries", "value": None,
                    "max": TARGETS["ratio_max"], "met": None})
    d = next((s for s in scales if s["scale"] == "default"), None)
    v = d["summary"]["cycle_s"] if d else None
    out.append({"target": f"transform cycle < {TARGETS['cycle_max_s']:g} s at the default scale", "value": v,
                "max": TARGETS["cycle_max_s"], "met": None if v is None else v < TARGETS["cycle_max_s"]})
    v = d["summary"]["fixed_cost_noop_s"] if d else None
    out.append({"target": f"dbt fixed cost about {TARGETS['fixed_cost_about_s']:g} s (no-op build, informative)",
                "value": v, "max": None, "met": None})
    return out


def _f(v, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}{unit}" if v < 1 else f"{v:.2f}{unit}" if v < 100 else f"{v:,.0f}{unit}"
    return f"{v:,}{unit}"


def render_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [
        "# dbt benchmark: full vs incremental builds, transform cycle",
        "",
        f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, PostgreSQL {m['postgres']}, "
        f"dbt-core {m['versions'].get('dbt-core', '–')} / dbt-postgres {m['versions'].get('dbt-postgres', '–')}; "
        f"{m['date']}, load average {m['loadavg_start']} at start, {m.get('loadavg_end')} at end. "
        "Wall seconds of the whole `dbt` process; median of the repeats.",
        "",
        "| scale | time entries | tables / rows built | full build s | incremental build s (1%) | ratio "
        "| incremental project build s (1%) | ratio (project) | full run s | incremental run s | ratio (run) | test s | fixed cost s (no-op build / parse / --version) "
        "| cycle s | incremental correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in res["scales"]:
        u, rows = s["summary"], s["rows"] or {}
        ok = {True: "yes", False: "**NO**", None: "–"}[u["incremental_checks_ok"]]
        lines.append(
            f"| {s['scale']} ({s['repeats']}×) | {s['world']['time_entries']:,} "
            f"| {len(rows.get('tables', {}))} / {rows.get('total_rows', 0):,} | {_f(u['full_build_s'])} "
            f"| {_f(u['incremental_build_s'])} | {_f(u['ratio_build'])} "
            f"| {_f(u.get('incremental_project_build_s'))} | {_f(u.get('ratio_project_build'))} | {_f(u['full_run_s'])} "
            f"| {_f(u['incremental_run_s'])} | {_f(u['ratio_run'])} | {_f(u['full_test_s'])} "
            f"| {_f(u['fixed_cost_noop_s'])} / {_f(u['fixed_cost_parse_s'])} / {_f(u['dbt_version_s'])} | {_f(u['cycle_s'])} | {ok} |")
    lines += [""]
    for s in res["scales"]:
        run, prov = s.get("run", {}), s.get("dbt_project", {})
        lines.append(f"- {s['scale']}: measured {run.get('date')} ({run.get('minutes')} min), load average "
                     f"{run.get('loadavg_start')} → {run.get('loadavg_end')}; project at {str(prov.get('commit'))[:10]} "
                     f"({prov.get('models')} models, {prov.get('dbt_project_uncommitted_files')} uncommitted files); "
                     f"raw loaded in {s['world']['extract_s']} s ({s['world']['raw_total_live_rows']:,} rows, "
                     f"{s['world']['raw_mb']} MB)")
    lines += ["", "Targets:", ""]
    for t in res["targets"]:
        state = {True: "met", False: "NOT met", None: "informative" if t.get("max") is None else "not measured"}[t["met"]]
        lines.append(f"- {t['target']}: {_f(t['value'])}: **{state}**")
    cyc = {s["summary"]["cycle_how"] for s in res["scales"]}
    lines += [
        "",
        f"Incremental: {res['touch_share']:.0%} of the live Kantata time entries changed in raw as the extract's "
        f"merge writes them ({1 - res['delete_fraction']:.0%} edited: half an hour more and a new updated_at; "
        f"{res['delete_fraction']:.0%} deleted: is_deleted as the delete reconciliation marks them), plus the "
        "extract run's ops.extract_runs row. Full build: `dbt " + " ".join(FULL_BUILD) + "` (the transform DAG's "
        "full refresh: models, data tests, hooks). Incremental build: what the transform DAG builds in a cycle where "
        "Kantata time entries changed, `dbt " + " ".join(INCREMENTAL_BUILD) + "`; ratio = incremental / full. "
        "Incremental project build (informative): `dbt " + " ".join(PROJECT_BUILD) + "` of the whole project after "
        "another such change. \"incremental correct\": in canonical time_entry every edited entry has its half hour "
        "more and no deleted entry is left. Fixed cost: `dbt build` selecting nothing (parse with the partial-parse file, "
        "connect, hooks skipped) / warm `dbt parse` / `dbt --version` (interpreter start and imports only). Cycle: one time entry changed in raw with its extract_runs "
        f"row, then {' / '.join(sorted(cyc))}; the scheduler's hop from the asset event to the transform task "
        "(about 1 s) is not included.",
        "",
    ]
    busy = max((r.get("loadavg_1m") or 0) for s in res["scales"] for rs in s["phases"].values() for r in rs)
    if busy > m["nproc"]:
        lines += [f"**The machine was busy**: 1-minute load average up to {busy} on {m['nproc']} CPUs during the "
                  "runs (the machine is shared); figures are noisy.", ""]
    for s in res["scales"]:
        for name in ("full_build", "incremental_build", "incremental_project_build"):
            rs = [r for r in s["phases"].get(name, []) if r.get("slowest")]
            if rs:
                top = ", ".join(f"{n['node'].split('.')[-1]} {n['s']}" for n in rs[0]["slowest"][:5])
                lines.append(f"- {s['scale']} {name.replace('_', ' ')}, slowest nodes (s): {top}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="default,bench:2000000")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per phase at small scales")
    ap.add_argument("--large-repeats", type=int, default=1, help=f"repeats at {LARGE:,}+ time entries")
    ap.add_argument("--touch-share", type=float, default=0.01, help="share of live time entries changed")
    ap.add_argument("--delete-fraction", type=float, default=0.05, help="of the changed entries, the deleted share")
    ap.add_argument("--skip-run-only", action="store_true", help="skip `dbt run` / `dbt test` phases")
    ap.add_argument("--large-run-only", action="store_true",
                    help=f"also run the `dbt run` / `dbt test` phases at {LARGE:,}+ entries (skipped by default)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other scales already in --out (measure scales in separate invocations)")
    ap.add_argument("--out", default=str(RESULTS), help="JSON results; the markdown table goes beside it (.md)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs, target) for inspection")
    ap.add_argument("--cycle-fallback", action="store_true",
                    help="measure the cycle as a dbt build of the selection, not dag.test() of the transform DAG")
    ap.add_argument("--cycles", type=int, default=3, help="timed transform cycles (at least --repeats)")
    ap.add_argument("--cycle-only", action="store_true", help="load, then only the transform cycles (debugging)")
    ap.add_argument("--child-cycles", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--label", default="x", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_cycles:
        child_cycles(a.child_cycles, a.repeats, a.label)
        return 0

    def on_term(signum, frame):  # make `finally` run on kill/timeout as on Ctrl-C
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    workdir = Path(tempfile.mkdtemp(prefix="handoff-bench-dbt-"))
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow")
    cluster = None
    rc = 1
    try:
        project, provenance = snapshot_project(workdir)
        cluster = start_postgres(workdir)
        res: dict = {"dbt_project": provenance, "scales_requested": a.scales.split(","), "touch_share": a.touch_share,
                     "delete_fraction": a.delete_fraction, "seed": SEED, "schema_prefix": SCHEMA_PREFIX,
                     "machine": machine_info(cluster), "scales": []}
        for scale in res["scales_requested"]:
            res["scales"].append(bench_scale(cluster, scale, workdir, project, provenance, a))
        out = Path(a.out)
        if a.merge and out.exists():  # earlier invocations' scales, each with its own machine state
            old = json.loads(out.read_text())
            kept = [s for s in old.get("scales", []) if s["scale"] not in res["scales_requested"]]
            res["scales"] = sorted(kept + res["scales"], key=lambda s: s["world"]["time_entries"])
        res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        res["targets"] = evaluate_targets(res["scales"])
        write_results(out, res, render_markdown(res))
        rc = 0
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())

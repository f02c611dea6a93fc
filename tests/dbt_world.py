"""A simulated world extracted into a warehouse and built by dbt, once per session.

Shared by tests/transform (the truth tests and the transform DAG tests) and tests/reverse: each
directory's conftest imports the fixtures (`from dbt_world import ...`).

Fixture API:

- `make_dbt_world(scale="default", seed=7, prefix="", build="build")` (session scope) returns a new
  `DbtWorld`: its own warehouse database on the session cluster (roles and grants as the platform
  makes them: `bootstrap.grant_warehouse` + `migrate(raw_tables())`), its own started `SimCluster`,
  every stream extracted once (`extract_everything`) and one `dbt build` as `handoff_transformer`
  into schemas `<prefix>staging`, `<prefix>canonical`, ... A `dbt build` that cannot run (parse/compile error) fails the fixture with the tail of dbt's log;
  failed dbt tests and the models they skipped do not stop the truth tests (they are in
  `world.build_failures`, asserted by `test_dbt_build_has_no_failures`). `build="run"` runs
  `dbt run` instead (no tests; strict: any model not built fails), `build=None` builds nothing.
  `clone_of=world` copies a built world instead (its database as a template, new simulators at
  the same seed, scale and tick, dbt target copied): the same state in seconds, free to move;
  falls back to building from scratch if the database is in use.
  Everything is stopped and dropped at the end of the session.
- `dbt_world` (session scope): `make_dbt_world()` at the default scale, built, prefix "" (the
  schemas analysts see). Treat it as read-only: tests that move the world make their own.

`DbtWorld`:
    .sims                     the SimCluster (`.truth(system, object)`, `.cases()`, `.advance(n)`)
    .dbname                   the warehouse database's name
    .admin_url / .analyst_url / .loader_url / .transformer_url   URLs on it per role (trust auth)
    .prefix                   the schema prefix of the session build
    .schema("canonical")      -> "<prefix>canonical"
    .dbt(*args, prefix=None, check=True, timeout=600) -> CompletedProcess
                              runs dbt in dbt_project/ with this world's env (own target and log
                              dirs per prefix); check=True fails the test with the log tail
    .build(*args, prefix=None, command="build", strict=False) -> dict   run_results + failures/not_built
    .extract()                extract every stream once more (after `sims.advance`); .extracted_at
    .query(sql, *params, url=None) -> list[tuple]   (admin URL unless given)
    .env(prefix=None)         the dbt environment (dict), e.g. for an Airflow connection's test
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

# No handoff/airflow import at module level: this conftest loads before the root conftest's
# pytest_configure points Airflow at the session cluster (imports happen inside the functions).

DBT = str(Path(sys.executable).parent / "dbt")
# HANDOFF_TEST_DBT_PROJECT: build another copy of the project (a developer's snapshot); default the repo's.
PROJECT = Path(os.environ.get("HANDOFF_TEST_DBT_PROJECT") or Path(__file__).resolve().parents[1] / "dbt_project")
ANALYST, LOADER, TRANSFORMER = "handoff_analyst", "handoff_loader", "handoff_transformer"
SCALE = os.environ.get("HANDOFF_TEST_DBT_SCALE", "default")


def _tail(path: Path, n: int = 120) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class DbtWorld:
    pg: object
    sims: object
    dbname: str
    prefix: str
    workdir: Path
    seed: int = 7
    scale: str = SCALE
    extracted_at: float = 0.0  # time.time() of the last extract()
    timings: dict = field(default_factory=dict)
    build_results: dict = field(default_factory=dict)

    @property
    def admin_url(self) -> str:
        return self.pg.url(self.dbname)

    def _url(self, role: str) -> str:
        return self.pg.cluster.url(self.dbname, user=role)

    analyst_url = property(lambda self: self._url(ANALYST))
    loader_url = property(lambda self: self._url(LOADER))
    transformer_url = property(lambda self: self._url(TRANSFORMER))

    def schema(self, layer: str, prefix: str | None = None) -> str:
        return f"{self.prefix if prefix is None else prefix}{layer}"

    def query(self, sql: str, *params, url: str | None = None) -> list[tuple]:
        with psycopg.connect(url or self.admin_url) as conn:
            cur = conn.execute(sql, params or None)
            return cur.fetchall() if cur.description else []

    # -- extract ---------------------------------------------------------------------------
    def extract(self):
        """Every stream once; the connections point at this world only for the call."""
        from handoff.extract.everything import extract_everything
        from handoff.platform.connections import connection_env

        creds = self.sims.credentials
        env = connection_env({s: self.sims.url(s) for s in self.sims.systems}, creds.client_id,
                             creds.client_secret, self.loader_url)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.extracted_at = time.time()
            return extract_everything(self.loader_url)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # -- dbt -------------------------------------------------------------------------------
    def _tag(self, prefix: str | None) -> str:
        return (self.prefix if prefix is None else prefix) or "main"

    def target_dir(self, prefix: str | None = None) -> Path:
        return self.workdir / f"target-{self._tag(prefix)}"

    def log_dir(self, prefix: str | None = None) -> Path:
        return self.workdir / f"logs-{self._tag(prefix)}"

    def env(self, prefix: str | None = None) -> dict[str, str]:
        from handoff.platform.deployment import dbt_environment

        prefix = self.prefix if prefix is None else prefix
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(self.workdir),
            **dbt_environment(self.pg.cluster.host, self.pg.cluster.port, "", dbname=self.dbname),
            "HANDOFF_DBT_SCHEMA_PREFIX": prefix,
            "DBT_TARGET_PATH": str(self.target_dir(prefix)), "DBT_LOG_PATH": str(self.log_dir(prefix)),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DBT_USE_COLORS": "False",
        }

    def dbt(self, *args: str, prefix: str | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        proc = subprocess.run([DBT, *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
                              cwd=PROJECT, env=self.env(prefix), capture_output=True, text=True, timeout=timeout)
        self.timings.setdefault(" ".join(args[:2]), []).append(round(time.monotonic() - t0, 1))
        if check and proc.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed (rc {proc.returncode}):\n"
                        f"{proc.stdout[-6000:]}\n--- dbt.log tail ---\n"
                        f"{_tail(self.log_dir(prefix) / 'dbt.log', 60)}", pytrace=False)
        return proc

    def run_results(self, prefix: str | None = None) -> dict:
        return json.loads((self.target_dir(prefix) / "run_results.json").read_text())

    def build(self, *args: str, prefix: str | None = None, command: str = "build", strict: bool = False) -> dict:
        """`dbt build` (or `run`): fails at once if dbt could not run at all (rc 2: parse/compile) or,
        with `strict`, if a model errored or was skipped. Returns the run results with
        `failures`: dbt tests/unit tests that failed or errored, and `not_built`: models, seeds and
        snapshots that errored or were skipped (a failing unit test skips its model): findings the
        truth tests report one by one instead of stopping them all."""
        proc = self.dbt(command, *args, prefix=prefix, check=False)
        try:
            results = self.run_results(prefix)["results"]
        except (OSError, ValueError, KeyError):
            results = None
        if results is None or proc.returncode not in (0, 1):
            pytest.fail(f"dbt {command} {' '.join(args)} failed (rc {proc.returncode}):\n"
                        f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}\n--- dbt.log tail ---\n"
                        f"{_tail(self.log_dir(prefix) / 'dbt.log', 60)}", pytrace=False)

        def brief(r):
            return (r["unique_id"], r["status"], (r.get("message") or "")[:300])

        not_built = [brief(r) for r in results if r["unique_id"].startswith(("model.", "seed.", "snapshot."))
                     and r["status"] != "success"]
        failures = [brief(r) for r in results if r["unique_id"].startswith(("test.", "unit_test."))
                    and r["status"] not in ("pass", "warn", "success")]
        if strict and not_built:
            pytest.fail(f"dbt {command} {' '.join(args)}: nodes not built: {not_built}\n"
                        f"{proc.stdout[-5000:]}\n--- dbt.log tail ---\n"
                        f"{_tail(self.log_dir(prefix) / 'dbt.log', 60)}", pytrace=False)
        return {"results": results, "failures": failures, "not_built": not_built, "returncode": proc.returncode,
                "stdout_tail": proc.stdout[-4000:]}

    @property
    def build_failures(self) -> list:
        """dbt tests that failed and models not built by the session build."""
        return self.build_results.get("failures", []) + self.build_results.get("not_built", [])


_MADE: list[DbtWorld] = []


def pytest_terminal_summary(terminalreporter):
    """Each world's timings, once (every conftest that imports this hook calls it)."""
    while _MADE:
        world = _MADE.pop(0)
        terminalreporter.write_line(f"dbt world {world.dbname} ({world.scale}, prefix {world.prefix!r}): "
                                    f"seconds {world.timings}")


@pytest.fixture(scope="session")
def make_dbt_world(pg):
    from handoff.extract.sources import raw_tables
    from handoff.platform import bootstrap
    from handoff.platform.secrets import generate
    from handoff.sim import SimCluster, SimCredentials
    from handoff.warehouse.migrate import migrate

    assert (bootstrap.ROLES["analyst"], bootstrap.ROLES["loader"], bootstrap.ROLES["transformer"]) == \
        (ANALYST, LOADER, TRANSFORMER)

    made: list[DbtWorld] = []  # this fixture's worlds (stopped at its teardown); _MADE: for the summary

    def start_sims(seed: int, scale: str):
        secrets = generate()
        sims = SimCluster(seed=seed, scale=scale, credentials=SimCredentials(
            client_id=secrets["sim_client_id"], client_secret=secrets["sim_client_secret"]))
        sims.start()
        return sims

    def clone(src: DbtWorld) -> DbtWorld | None:
        """A copy of `src` (database as a template: raw, ops, cursors and built schemas) with its own
        simulators at the same seed, scale and tick: the same world, free to move."""
        t0 = time.monotonic()
        dbname = f"dbtw_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbname), sql.Identifier(src.dbname)))
        except psycopg.errors.ObjectInUse:  # someone is connected to src: build from scratch instead
            return None
        bootstrap.grant_warehouse(pg.url(dbname), dbname)  # database ACLs are not copied
        sims = start_sims(src.seed, src.scale)
        if src.sims.tick:
            sims.advance(src.sims.tick)
        world = DbtWorld(pg=pg, sims=sims, dbname=dbname, prefix=src.prefix, seed=src.seed, scale=src.scale,
                         workdir=Path(tempfile.mkdtemp(prefix="handoff-dbtw-")),
                         build_results=dict(src.build_results), extracted_at=src.extracted_at)
        made.append(world)
        _MADE.append(world)
        shutil.copytree(src.target_dir(), world.target_dir(), dirs_exist_ok=True)  # manifest for --state/parse
        world.timings["clone"] = [round(time.monotonic() - t0, 1)]
        return world

    def make(scale: str = SCALE, seed: int = 7, prefix: str = "", build: str | None = "build",
             clone_of: DbtWorld | None = None) -> DbtWorld:
        if clone_of is not None:
            world = clone(clone_of)
            if world is not None:
                return world
            scale, seed, prefix = clone_of.scale, clone_of.seed, clone_of.prefix
        t0 = time.monotonic()
        dbname = pg.create_database("dbtw")
        bootstrap.grant_warehouse(pg.url(dbname), dbname)
        with psycopg.connect(pg.url(dbname)) as conn:
            migrate(conn, raw_tables())
        sims = start_sims(seed, scale)
        world = DbtWorld(pg=pg, sims=sims, dbname=dbname, prefix=prefix, seed=seed, scale=scale,
                         workdir=Path(tempfile.mkdtemp(prefix="handoff-dbtw-")))
        made.append(world)
        _MADE.append(world)
        world.extract()
        world.timings["extract"] = [round(time.monotonic() - t0, 1)]
        if build:
            world.build_results = world.build(command=build, strict=build != "build")
        return world

    yield make
    for world in made:
        world.sims.stop()
        pg.drop_database(world.dbname)
        shutil.rmtree(world.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def dbt_world(make_dbt_world) -> DbtWorld:
    return make_dbt_world()

"""The transform DAG under `dag.test()`: cosmos WATCHER runs one dbt build per cycle, selected
from what changed in raw; a cycle with nothing changed builds nothing; a failing dbt test stops
only what depends on it.

A small dbt project written here (three raw sources, six models, a test that can be made to
fail) keeps these tests fast and independent of the real project, which is still growing; the
real project's manifest is rendered too (DAG shape only). The world is the tiny simulated one,
extracted once (`make_dbt_world` of tests/dbt_world.py, without its dbt build).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from handoff.config import REPO_ROOT

DBT = str(Path(sys.executable).parent / "dbt")

MINI = {
    "dbt_project.yml": """
name: handoff_mini
version: "0.1.0"
config-version: 2
profile: handoff
model-paths: ["models"]
test-paths: ["tests"]
macro-paths: ["macros"]
models:
  handoff_mini:
    +materialized: view
    staging:
      +schema: staging
    marts:
      +schema: marts
      +materialized: table
""",
    "models/staging/_sources.yml": """
version: 2
sources:
  - name: raw_kantata
    schema: raw_kantata
    tables: [{name: time_entries}, {name: workspaces}]
  - name: raw_hubspot
    schema: raw_hubspot
    tables: [{name: companies}]
""",
    "models/staging/stg_kantata__time_entries.sql":
        "select source_id as time_entry_id, payload->>'workspace_id' as workspace_id\n"
        "from {{ source('raw_kantata', 'time_entries') }} where not is_deleted",
    "models/staging/stg_kantata__workspaces.sql":
        "select source_id as workspace_id from {{ source('raw_kantata', 'workspaces') }} where not is_deleted",
    "models/staging/stg_hubspot__companies.sql":
        "select source_id as company_id from {{ source('raw_hubspot', 'companies') }} where not is_deleted",
    "models/marts/workspace_hours.sql":
        "select w.workspace_id, count(t.time_entry_id) as entries from {{ ref('stg_kantata__workspaces') }} w\n"
        "left join {{ ref('stg_kantata__time_entries') }} t using (workspace_id) group by 1",
    "models/marts/company_count.sql": "select count(*) as companies from {{ ref('stg_hubspot__companies') }}",
    "models/marts/company_report.sql": "select companies * 2 as doubled from {{ ref('company_count') }}",
    "models/marts/_marts.yml": """
version: 2
models:
  - name: workspace_hours
    columns: [{name: workspace_id, data_tests: [not_null]}]
""",
    "tests/company_count_is_checked.sql":
        "select * from {{ ref('company_count') }} where {{ env_var('H3_FAIL_COMPANY_TEST', '0') }} = 1",
}
MODELS = {"stg_kantata__time_entries", "stg_kantata__workspaces", "stg_hubspot__companies",
          "workspace_hours", "company_count", "company_report"}
HUBSPOT_DOWNSTREAM = {"stg_hubspot__companies", "company_count", "company_report"}


def write_project(root: Path) -> Path:
    for rel, text in MINI.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.strip() + "\n")
    (root / "macros").mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dbt_project/macros/generate_schema_name.sql", root / "macros")
    return root


@pytest.fixture(scope="module")
def world(make_dbt_world):
    return make_dbt_world(scale="tiny", build=False)


@pytest.fixture(scope="module")
def transform_env(world, airflow_env, tmp_path_factory):
    """The project, its manifest (dbt parse, as `handoff up` does) and the env the DAG reads."""
    from handoff.platform.connections import WAREHOUSE_CONN_ID, env_name, postgres_connection

    # Kept between sessions (same files, same paths): dbt and cosmos parse only what changed;
    # a session running beside another one gets a private folder.
    root = Path(tempfile.gettempdir()) / f"handoff-test-transform-{os.getuid()}"
    root.mkdir(exist_ok=True)
    lock = (root / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        root = tmp_path_factory.mktemp("transform")
    project, artifacts = write_project(root / "project"), root / "artifacts"
    env = {
        "HANDOFF_DBT_PROJECT_DIR": str(project), "HANDOFF_DBT_ARTIFACTS": str(artifacts),
        env_name(WAREHOUSE_CONN_ID): postgres_connection(world.loader_url),
        "HANDOFF_DBT_PASSWORD": "any (trust auth)", "HANDOFF_DEADLINES": "off",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos-cache"),
    }
    proc = subprocess.run([DBT, "parse", "--project-dir", str(project), "--profiles-dir",
                           str(REPO_ROOT / "dbt_project"), "--target-path", str(artifacts),
                           "--log-path", str(root / "logs")],
                          env={**os.environ, **env, "HANDOFF_DBT_DBNAME": world.dbname,
                               "HANDOFF_DBT_PORT": str(world.pg.cluster.port)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    lock.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def transform_dag(transform_env):
    from handoff.transform.dag import build_dag

    return build_dag()


def run_cycle(dag, **conf):
    t0 = time.monotonic()
    dag_run = dag.test(run_conf=conf or None)
    states = {}
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id):
            states[ti.task_id] = ti.state
    return dag_run, states, time.monotonic() - t0


def model_states(states: dict) -> dict[str, str]:
    """{model: state of its run task}."""
    out = {}
    for task_id, state in states.items():
        name = task_id.removeprefix("dbt.")
        for suffix in ("_run", ".run"):
            if name.endswith(suffix):
                out[name.removesuffix(suffix)] = str(state)
    return out


def last_cycle(world) -> dict:
    cols = ("run_id", "mode", "outcome", "changed_sources", "select_args", "nodes_built", "nodes_failed")
    row = world.query(f"SELECT {', '.join(cols)} FROM ops.transform_runs ORDER BY run_id DESC LIMIT 1")[0]
    return dict(zip(cols, row, strict=True))


def built_models(cycle: dict) -> set[str]:
    return {uid.rsplit(".", 1)[1] for uid in cycle["nodes_built"] if uid.startswith("model.")}


def land_change(world, source: str, stream: str) -> None:
    """What an extract attempt that changed raw leaves in the run log."""
    with psycopg.connect(world.loader_url, autocommit=True) as conn:
        conn.execute("""INSERT INTO ops.extract_runs (batch_id, source, stream, mode, changed, outcome, finished_at)
                        VALUES (gen_random_uuid()::text, %s, %s, 'incremental', 1, 'success', now())""",
                     (source, stream))


def test_cycles_build_what_changed_and_nothing_else(world, transform_dag, monkeypatch):
    timings = {}
    # 1. First cycle on this warehouse: everything.
    dag_run, states, timings["first"] = run_cycle(transform_dag)
    cycle = last_cycle(world)
    assert str(dag_run.state) == "success", states
    assert (cycle["mode"], cycle["outcome"]) == ("full", "success")
    assert built_models(cycle) == MODELS
    assert set(model_states(states).values()) == {"success"}, states
    assert world.query("SELECT count(*) FROM marts.workspace_hours")[0][0] > 0

    # 2. Nothing changed since: no dbt, every model task skipped.
    dag_run, states, timings["nothing"] = run_cycle(transform_dag)
    cycle = last_cycle(world)
    assert str(dag_run.state) == "success", states
    assert (cycle["outcome"], cycle["select_args"], cycle["nodes_built"]) == ("nothing_changed", None, [])
    assert set(model_states(states).values()) == {"skipped"}, states

    # 3. One stream changed: only what reads it.
    land_change(world, "hubspot", "companies")
    dag_run, states, timings["one_stream"] = run_cycle(transform_dag)
    cycle = last_cycle(world)
    assert str(dag_run.state) == "success", states
    assert cycle["changed_sources"] == ["raw_hubspot.companies"]
    assert cycle["select_args"] == "source:raw_hubspot.companies+"
    assert built_models(cycle) == HUBSPOT_DOWNSTREAM
    assert {m for m, s in model_states(states).items() if s == "success"} == HUBSPOT_DOWNSTREAM, states
    assert {m for m, s in model_states(states).items() if s == "skipped"} == MODELS - HUBSPOT_DOWNSTREAM

    # 4. A failing test stops what depends on it, not the rest; the watermark stays.
    monkeypatch.setenv("H3_FAIL_COMPANY_TEST", "1")
    land_change(world, "hubspot", "companies")
    land_change(world, "kantata", "workspaces")
    dag_run, states, timings["failing_test"] = run_cycle(transform_dag)
    cycle = last_cycle(world)
    assert str(dag_run.state) == "failed"
    assert cycle["outcome"] == "failed"
    assert any("company_count_is_checked" in uid for uid in cycle["nodes_failed"]), cycle
    models = model_states(states)
    assert models["company_count"] == "success" and models["workspace_hours"] == "success", states
    assert models["company_report"] in ("upstream_failed", "failed"), states
    assert "company_report" not in built_models(cycle)
    assert str(states["dbt.company_count.test"]) == "failed", states

    from handoff.transform.selection import ProjectSources, plan_cycle
    from handoff.transform.settings import manifest_path

    with psycopg.connect(world.loader_url) as conn:
        again = plan_cycle(conn, ProjectSources.read(manifest_path()))
    assert set(again.changed) == {"raw_hubspot.companies", "raw_kantata.workspaces"}
    print("cycle wall times (s):", {k: round(v, 1) for k, v in timings.items()})


def test_real_project_manifest_renders(monkeypatch):
    """The repository's dbt project, whatever models it has today, parses into the DAG."""
    project = REPO_ROOT / "dbt_project"
    # A target folder kept between sessions: dbt parses only what changed since (seconds, not 30).
    target = Path(tempfile.gettempdir()) / f"handoff-test-dbt-parse-{os.getuid()}"
    env = {**os.environ, "HANDOFF_DBT_PASSWORD": "x", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    proc = subprocess.run([DBT, "parse", "--project-dir", str(project), "--profiles-dir", str(project),
                           "--target-path", str(target), "--log-path", str(target / "logs")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    monkeypatch.setenv("HANDOFF_DBT_ARTIFACTS", str(target))
    monkeypatch.delenv("HANDOFF_DBT_PROJECT_DIR", raising=False)
    from handoff.transform.dag import build_dag

    dag = build_dag()
    manifest = json.loads((target / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert "plan" in dag.task_dict and "dbt.dbt_producer_watcher" in dag.task_dict
    assert len([t for t in dag.task_dict if t.endswith(("_run", ".run"))]) == len(models)
    # the outbox models' test tasks announce the assets the reverse sync is scheduled on; nothing else does
    announced = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}
    assert announced == {"dbt.outbox_time_entries.test": ["outbox.outbox_time_entries"],
                         "dbt.outbox_billing_events.test": ["outbox.outbox_billing_events"]}
    # the producer runs dbt in its own process and leaves the unit tests to `make test`
    from cosmos.constants import InvocationMode

    producer = dag.task_dict["dbt.dbt_producer_watcher"]
    assert producer.invocation_mode == InvocationMode.SUBPROCESS


def test_missing_manifest_still_imports_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDOFF_DBT_ARTIFACTS", str(tmp_path / "nowhere"))
    from handoff.transform.dag import build_dag

    dag = build_dag()
    assert list(dag.task_dict) == ["manifest_missing"]
    assert "handoff up" in dag.doc_md and str(tmp_path / "nowhere") in dag.doc_md

"""`handoff up / status / down` end to end: real Postgres, simulators and the four Airflow parts.

Runs the CLI as a user would, on free ports in a temporary home, so it never meets a deployment
that `make up` started on this machine.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest
from cli_env import HANDOFF

from handoff.platform.postgres import port_is_listening
from handoff.platform.processes import INSTANCE_VAR

pytestmark = pytest.mark.slow
@pytest.fixture
def deployment_env(user_env):
    env = dict(user_env)
    env.update({
        "HANDOFF_SIM_TICK_SECONDS": "0",
        "HANDOFF_EXTRACT_KANTATA_DEADLINE_SECONDS": "0.5",  # every run is late: the alert must fire
    })
    yield env
    subprocess.run([HANDOFF, "down"], env=env, capture_output=True, timeout=120)


def handoff(env, *args, timeout=600):
    proc = subprocess.run([HANDOFF, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"handoff {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def post_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def api(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def new_project_processes(before: set[int], home: Path) -> list[str]:
    """Airflow, Postgres, simulator or handoff processes of the deployment in `home` that did not exist
    before the test (by its path on their command line or in their environment: other test sessions
    on this machine start processes of the same names)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "name"]):
        try:
            if proc.pid in before or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.info["cmdline"] or []) or proc.info["name"]
            environ = proc.environ()
            ours = str(home) in cmd or str(home) in (environ.get("HANDOFF_HOME"), environ.get(INSTANCE_VAR))
            if ours and any(word in cmd for word in ("airflow", "postgres", "handoff", "LocalExecutor")):
                found.append(f"{proc.pid} {cmd[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def secrets(home: Path) -> dict[str, str]:
    return json.loads((home / "secrets.json").read_text())


def test_up_login_status_down_up_keeps_data(deployment_env):
    env = deployment_env
    home = Path(env["HANDOFF_HOME"])
    before = set(psutil.pids())
    out = handoff(env, "up")
    ui = f"http://localhost:{env['HANDOFF_AIRFLOW_PORT']}"
    assert f"Airflow UI: {ui}" in out
    password = json.loads((home / "airflow" / "admin_password.json").read_text())["admin"]
    assert password in out, "the generated admin password is printed on first start"
    assert (home / "secrets.json").stat().st_mode & 0o077 == 0
    analyst_url = (f"postgresql://handoff_analyst:{secrets(home)['analyst']}@127.0.0.1:{env['HANDOFF_PG_PORT']}"
                   "/handoff")
    assert analyst_url in out, "up prints the analyst's connection string"
    assert (home / "dbt" / "target" / "manifest.json").exists(), "up builds the dbt manifest"
    assert (home / "dbt" / "target" / "index.html").exists(), "up generates the dbt docs"
    who = handoff(env, "psql", "--analyst", "-tAc", "select current_user")
    assert who.strip() == "handoff_analyst"
    refused = subprocess.run([HANDOFF, "psql", "--analyst", "-c", "select 1 from ops.extract_runs"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "permission denied" in refused.stderr

    with urllib.request.urlopen(ui + "/", timeout=10) as resp:
        assert resp.status == 200
    status, body = post_json(ui + "/auth/token", {"username": "admin", "password": password})
    assert status == 201 and body["access_token"]
    token = body["access_token"]
    status, _ = post_json(ui + "/auth/token", {"username": "admin", "password": "wrong"})
    assert status == 401
    base = int(env["HANDOFF_SIM_PORT_BASE"])
    for i in range(5):
        with urllib.request.urlopen(f"http://127.0.0.1:{base + i}/__sim/health", timeout=5) as resp:
            assert resp.status == 200

    raw_status = handoff(env, "status")
    info = json.loads(raw_status)
    assert info["postgres"].startswith(f"running on 127.0.0.1:{env['HANDOFF_PG_PORT']}")
    assert all(v.startswith("running") for v in info["airflow"].values()), info["airflow"]
    assert info["simulators"]["kantata"] == f"http://127.0.0.1:{base + 2}"

    # The real scheduler runs the unpaused extract DAGs on their one-minute data intervals; the
    # loaded raw table must equal the simulator's truth (the world does not tick here).
    loader_url = f"postgresql://handoff_loader:{secrets(home)['loader']}@127.0.0.1:{env['HANDOFF_PG_PORT']}/handoff"
    with urllib.request.urlopen(f"http://127.0.0.1:{base + 2}/__sim/truth?object=time_entries", timeout=10) as r:
        truth = {str(rec["id"]) for rec in json.loads(r.read())["records"]}
    assert truth
    deadline = time.monotonic() + 240
    loaded: set[str] = set()
    with psycopg.connect(loader_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            done = conn.execute("SELECT count(*) FROM ops.extract_runs WHERE dag_id = 'extract_kantata' "
                                "AND stream = 'time_entries' AND outcome = 'success'").fetchone()[0]
            if done:
                loaded = {i for (i,) in conn.execute(
                    "SELECT source_id FROM raw_kantata.time_entries WHERE NOT is_deleted")}
                break
            time.sleep(2)
        failed = conn.execute("SELECT dag_id, stream, error FROM ops.extract_runs WHERE outcome = 'failed'").fetchall()
    assert failed == []
    assert loaded == truth
    triggerer_log = home / "logs" / "airflow-triggerer.log"
    deadline = time.monotonic() + 60
    while "extract deadline missed: extract_kantata" not in triggerer_log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the deadline alert did not fire under the real scheduler"
        time.sleep(2)

    # The reverse sync under the real scheduler (its 5-minute timer, the outbox asset, or this
    # trigger, whichever comes first) ends well: posting the outbox or, before the first transform
    # has built it, skipping with "nothing to post yet"; none fails.
    status, run = api("POST", ui + "/api/v2/dags/reverse_sync_netsuite/dagRuns", token,
                      {"logical_date": None, "conf": {"dry_run": False}})
    assert status == 200, run
    deadline = time.monotonic() + 420
    while True:
        _, runs = api("GET", f"{ui}/api/v2/dags/reverse_sync_netsuite/dagRuns?limit=20", token)
        ended = {r["dag_run_id"]: r["state"] for r in runs["dag_runs"] if r["state"] in ("success", "failed")}
        if ended:
            break
        assert time.monotonic() < deadline, f"no reverse_sync_netsuite run ended: {runs['dag_runs']}"
        time.sleep(3)
    assert "failed" not in ended.values(), ended

    again = handoff(env, "up")
    assert again.count("already running") == 5 and password not in again

    with psycopg.connect(loader_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ops.survives_restart (v int)")
        conn.execute("INSERT INTO ops.survives_restart VALUES (7)")

    handoff(env, "down")
    assert new_project_processes(before, home) == []
    assert not port_is_listening(int(env["HANDOFF_AIRFLOW_PORT"]))
    assert not port_is_listening(int(env["HANDOFF_PG_PORT"]))
    assert not port_is_listening(int(env["HANDOFF_SIM_PORT_BASE"]))
    assert json.loads(handoff(env, "status"))["postgres"] == "stopped"

    handoff(env, "up")
    with psycopg.connect(loader_url) as conn:
        assert conn.execute("SELECT v FROM ops.survives_restart").fetchall() == [(7,)]
    handoff(env, "down")
    assert new_project_processes(before, home) == []


def test_bad_setting_fails_at_start_naming_the_variable(deployment_env):
    env = dict(deployment_env, HANDOFF_AIRFLOW_PARALLELISM="lots")
    proc = subprocess.run([HANDOFF, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "HANDOFF_AIRFLOW_PARALLELISM" in proc.stderr
    assert not (Path(env["HANDOFF_HOME"]) / "postgres").exists(), "nothing started on a bad config"


def test_external_postgres_is_used_and_nothing_is_started(deployment_env, pg):
    """With HANDOFF_WAREHOUSE_URL / HANDOFF_AIRFLOW_DB_URL set, no cluster is created or started."""
    warehouse = pg.create_database("ext_wh")
    airflow_db = pg.create_database("ext_af")
    env = dict(deployment_env, HANDOFF_WAREHOUSE_URL=pg.url(warehouse), HANDOFF_AIRFLOW_DB_URL=pg.url(airflow_db),
               HANDOFF_START_SIMULATORS="false")
    home = Path(env["HANDOFF_HOME"])
    try:
        out = handoff(env, "up")
        assert "using HANDOFF_WAREHOUSE_URL and HANDOFF_AIRFLOW_DB_URL (nothing started)" in out
        assert not (home / "postgres").exists()
        with psycopg.connect(pg.url(warehouse)) as conn:
            schemas = {n for (n,) in conn.execute("SELECT nspname FROM pg_namespace")}
        assert {"ops", "raw_kantata", "raw_salesforce"} <= schemas
        with psycopg.connect(pg.url(airflow_db)) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
        info = json.loads(handoff(env, "status"))
        assert info["postgres"].startswith("external")
        assert info["simulators"] == "stopped"
        assert all(v.startswith("running") for v in info["airflow"].values())
        handoff(env, "down")
        assert all(v == "stopped" for v in json.loads(handoff(env, "status"))["airflow"].values())
    finally:
        handoff(env, "down")
        pg.drop_database(warehouse)
        pg.drop_database(airflow_db)


def test_external_postgres_needs_both_urls(deployment_env, pg):
    env = dict(deployment_env, HANDOFF_WAREHOUSE_URL=pg.url("handoff"))
    proc = subprocess.run([HANDOFF, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "HANDOFF_AIRFLOW_DB_URL is not set" in proc.stderr + proc.stdout

"""docker-compose.yaml: a valid Compose file that agrees with what the `handoff` CLI configures.

No Docker engine runs here, so this is the proof: the file validates against the Compose
Specification schema, its Airflow settings and connections are the ones handoff.platform builds
for `handoff up`, and it holds no secret values. Fast: no network, no containers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from handoff.config import REPO_ROOT, Settings
from handoff.platform import bootstrap
from handoff.platform.airflow_env import airflow_environment, airflow_settings
from handoff.platform.connections import SYSTEMS, WAREHOUSE_CONN_ID, conn_id, connection_env, env_name
from handoff.platform.deployment import AIRFLOW_PARTS

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
SCHEMA_FILE = REPO_ROOT.parent / "shared" / "api-specs" / "compose" / "compose-spec.json"
ENV_EXAMPLE = REPO_ROOT / "docker" / ".env.example"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
POSTGRES_INIT = REPO_ROOT / "docker" / "postgres-init"

# Compose service -> the `airflow <part>` it runs; the parts are the CLI's (deployment.AIRFLOW_PARTS).
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
EXEC_URL = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
CONTAINER_ROOT = "/opt/airflow"  # REPO_ROOT inside the image (docker/Dockerfile asserts it)

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
REF = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
URL_PASSWORD = re.compile(r"://[^:/@\s]*:(\$\{[^}]*\}|[^@/\s]*)@")  # scheme://user:PASSWORD@host
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|_KEY\b|TOKEN")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not name.endswith("_FILE")  # a path, not a secret


def resolve(value: object) -> str:
    """A Compose value as the container would see it with an empty env file: `${VAR:-d}` -> d,
    a reference without default -> `<VAR>` (a placeholder), `$$` -> `$`."""
    def sub(m: re.Match) -> str:
        if m["op"] in (":-", "-"):
            return m["arg"]
        return f"<{m['name']}>"

    return REF.sub(sub, str(value)).replace("$$", "$")


def is_secret_reference(value: object) -> bool:
    """The whole value is one `${VAR}` / `${VAR:?msg}` reference: no literal, no default."""
    m = REF.fullmatch(str(value))
    return bool(m) and m["op"] in (None, ":?", "?")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def common_env(compose: dict) -> dict:
    return compose["x-airflow-common"]["environment"]


def airflow_envs(compose: dict) -> dict[str, dict]:
    """The shared anchor and every Airflow service, each with its (merged) environment."""
    envs = {"x-airflow-common": compose["x-airflow-common"]["environment"]}
    for name in [*AIRFLOW_SERVICES, "airflow-init", "airflow-worker"]:
        envs[name] = compose["services"][name]["environment"]
    return envs


def all_environments(compose: dict) -> dict[str, dict]:
    envs = {"x-airflow-common": compose["x-airflow-common"]["environment"]}
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: write environment as a mapping"
        envs[name] = env
    return envs


def cli_settings_for(env: dict) -> dict[str, str]:
    """airflow_settings() called with the values this compose environment uses."""
    return airflow_settings(
        parallelism=int(resolve(env["AIRFLOW__CORE__PARALLELISM"])),
        idle_sleep=float(resolve(env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"])),
        api_port=int(resolve(env["AIRFLOW__API__PORT"])),
        api_host="airflow-apiserver",
    )


def sim_port_base(services: dict) -> int:
    cmd = [str(a) for a in services["simulators"]["command"]]
    return int(resolve(cmd[cmd.index("--port-base") + 1]))


def bind_mounts(svc: dict) -> list[tuple[str, str]]:
    out = []
    for vol in svc.get("volumes", []):
        source, target = (vol["source"], vol["target"]) if isinstance(vol, dict) else vol.split(":")[:2]
        out.append((source, target))
    return out


# ---- the file is Compose ---------------------------------------------------------------------------

def test_valid_against_compose_specification(compose: dict) -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"Compose Specification schema not found at {SCHEMA_FILE}")
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_environment_values_are_strings(compose: dict) -> None:
    """Quoted in YAML, so Compose passes exactly what is written (YAML False would become 'false')."""
    bad = [(where, k, v) for where, env in all_environments(compose).items()
           for k, v in env.items() if not isinstance(v, str)]
    assert bad == []


# ---- agreement with the CLI -----------------------------------------------------------------------

def test_airflow_settings_are_the_clis(compose: dict, services: dict) -> None:
    """Every key/value of airflow_settings() (with the api-server's service name as the execution
    API host) is in each Airflow environment."""
    mismatches = []
    for where, env in airflow_envs(compose).items():
        expected = cli_settings_for(env)
        for key, value in expected.items():
            if key not in env:
                mismatches.append((where, key, "missing"))
            elif key == "AIRFLOW__CORE__EXECUTOR" and where == "airflow-worker":
                continue  # checked in test_celery_profile_switches_the_executor
            elif resolve(env[key]) != value:
                mismatches.append((where, key, resolve(env[key]), value))
    assert mismatches == []
    assert "airflow-apiserver" in services


def test_defaults_are_the_cli_defaults(common_env: dict) -> None:
    fields = Settings.model_fields
    assert int(resolve(common_env["AIRFLOW__CORE__PARALLELISM"])) == fields["airflow_parallelism"].default
    assert float(resolve(common_env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"])) == \
        fields["scheduler_idle_sleep_seconds"].default


def test_api_server_port_is_the_configured_one(common_env: dict, services: dict) -> None:
    port = resolve(common_env["AIRFLOW__API__PORT"])
    api = services["airflow-apiserver"]
    assert [resolve(p).rsplit(":", 1)[1] for p in api["ports"]] == [port]
    assert f"localhost:{port}/" in " ".join(api["healthcheck"]["test"])


def test_location_settings_present(common_env: dict, compose: dict) -> None:
    """The keys airflow_environment() sets for a local deployment are all set here too, with
    paths that are the container's REPO_ROOT layout."""
    local = airflow_environment(
        home=Path(CONTAINER_ROOT).parent, db_url="postgresql://u:p@h:5432/airflow",
        secrets={"fernet_key": "f", "jwt_secret": "j", "api_secret_key": "a"}, parallelism=4,
        idle_sleep=0.5, api_port=8080, connections={},
    )
    assert sorted(set(local) - set(common_env)) == []
    assert common_env["AIRFLOW_HOME"] == CONTAINER_ROOT
    mounts = dict((src.removeprefix("./"), dst) for src, dst in bind_mounts(compose["x-airflow-common"]))
    assert common_env["AIRFLOW__CORE__DAGS_FOLDER"] == mounts["dags"] == f"{CONTAINER_ROOT}/dags"
    assert common_env["AIRFLOW__CORE__PLUGINS_FOLDER"] == mounts["plugins"] == f"{CONTAINER_ROOT}/plugins"
    assert mounts["include"] == f"{CONTAINER_ROOT}/include"
    assert mounts["dbt_project"] == f"{CONTAINER_ROOT}/dbt_project"
    assert mounts["airflow-logs"] == common_env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]
    assert common_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(mounts["airflow-auth"] + "/")
    url = urlsplit(resolve(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
    assert (url.scheme, url.username, url.hostname, url.path) == \
        ("postgresql+psycopg2", bootstrap.AIRFLOW_ROLE, "postgres", f"/{bootstrap.AIRFLOW_DB}")


def test_connections_are_the_clis(compose: dict, services: dict) -> None:
    """Same AIRFLOW_CONN_* names as connection_env(), and the same connections, pointing at
    the simulators service and at postgres as the loader role."""
    base = sim_port_base(services)
    sim_urls = {system: f"http://simulators:{base + i}" for i, system in enumerate(SYSTEMS)}
    warehouse = (f"postgresql://{bootstrap.ROLES['loader']}:<HANDOFF_LOADER_PASSWORD>@postgres:5432/"
                 f"{bootstrap.WAREHOUSE_DB}")
    # the compose simulators serve the documented rate limits (`handoff sim serve`'s default pacing)
    expected = connection_env(sim_urls, "<HANDOFF_SIM_CLIENT_ID>", "<HANDOFF_SIM_CLIENT_SECRET>", warehouse,
                              sim_pacing="documented")
    assert set(expected) == {env_name(conn_id(s)) for s in SYSTEMS} | {env_name(WAREHOUSE_CONN_ID)}
    for where, env in airflow_envs(compose).items():
        names = {k for k in env if k.startswith("AIRFLOW_CONN_")}
        assert names == set(expected), where
        for name, value in expected.items():
            assert json.loads(resolve(env[name])) == json.loads(value), (where, name)
    sim_env = services["simulators"]["environment"]
    assert resolve(sim_env["HANDOFF_SIM_CLIENT_ID"]) == "<HANDOFF_SIM_CLIENT_ID>"
    assert resolve(sim_env["HANDOFF_SIM_CLIENT_SECRET"]) == "<HANDOFF_SIM_CLIENT_SECRET>"


def test_dbt_profile_uses_the_transformer_role(common_env: dict) -> None:
    profile = (REPO_ROOT / "dbt_project" / "profiles.yml").read_text()
    wanted = {"HANDOFF_DBT_HOST": "postgres", "HANDOFF_DBT_PORT": "5432",
              "HANDOFF_DBT_USER": bootstrap.ROLES["transformer"], "HANDOFF_DBT_DBNAME": bootstrap.WAREHOUSE_DB,
              "HANDOFF_DBT_PASSWORD": "<HANDOFF_TRANSFORMER_PASSWORD>"}
    for name, value in wanted.items():
        assert f"env_var('{name}'" in profile, name
        assert resolve(common_env.get(name)) == value, name


# ---- services, profiles, volumes ------------------------------------------------------------------

def test_services(services: dict, compose: dict) -> None:
    assert set(AIRFLOW_SERVICES.values()) == set(AIRFLOW_PARTS)
    assert {"postgres", "simulators", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, part in AIRFLOW_SERVICES.items():
        svc = services[name]
        assert svc["command"] == part, name
        assert "profiles" not in svc, name
        assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert svc.get("build") == compose["x-handoff-image"]["build"], name

    init = services["airflow-init"]
    assert "airflow db migrate" in init["command"][-1]
    assert "bootstrap.bootstrap(" in init["command"][-1] and "write_admin_password(" in init["command"][-1]

    pg = services["postgres"]
    assert re.fullmatch(r"postgres:1[56](\..*)?", pg["image"])
    assert "healthcheck" in pg
    named = [src for src, dst in bind_mounts(pg) if dst == "/var/lib/postgresql/data"]
    assert named and named[0] in compose["volumes"]

    sim = services["simulators"]
    cmd = [str(a) for a in sim["command"]]
    assert cmd[:3] == ["handoff", "sim", "serve"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"  # reachable from the Airflow containers
    assert sim["entrypoint"][-1] == "--"  # not Airflow's entrypoint (it would prefix `airflow`)
    assert sim.get("build") == compose["x-handoff-image"]["build"]  # the same image
    assert "profiles" not in sim and "profiles" not in pg


def test_celery_profile_switches_the_executor(services: dict, common_env: dict) -> None:
    m = REF.fullmatch(common_env["AIRFLOW__CORE__EXECUTOR"])
    assert m and m["name"] == "AIRFLOW_EXECUTOR" and m["op"] == ":-"
    assert m["arg"] == airflow_settings(parallelism=1, idle_sleep=1, api_port=1)["AIRFLOW__CORE__EXECUTOR"]
    assert services["redis"]["profiles"] == ["celery"]
    worker = services["airflow-worker"]
    assert worker["profiles"] == ["celery"]
    script = " ".join(map(str, worker["command"]))
    assert "airflow celery worker" in script and '!= "CeleryExecutor"' in script
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert urlsplit(common_env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    celery_only = [n for n, s in services.items() if s.get("profiles")]
    assert sorted(celery_only) == ["airflow-worker", "redis"]
    example = ENV_EXAMPLE.read_text()
    assert re.search(r"^#? ?COMPOSE_PROFILES=celery$", example, re.M)
    assert re.search(r"^#? ?AIRFLOW_EXECUTOR=CeleryExecutor$", example, re.M)


def test_mounted_folders_exist(compose: dict) -> None:
    holders = {"x-airflow-common": compose["x-airflow-common"], **compose["services"]}
    missing, undeclared = [], []
    for name, svc in holders.items():
        for src, _ in bind_mounts(svc):
            if src.startswith((".", "/")):
                if not (REPO_ROOT / src).is_dir():
                    missing.append((name, src))
            elif src not in (compose.get("volumes") or {}):
                undeclared.append((name, src))
    assert missing == [] and undeclared == []
    common = {src for src, _ in bind_mounts(compose["x-airflow-common"])}
    assert {"./dags", "./plugins", "./dbt_project", "./include"} <= common
    assert (REPO_ROOT / compose["x-handoff-image"]["build"]["dockerfile"]).is_file()


# ---- secrets ----------------------------------------------------------------------------------------

def test_no_literal_secrets(compose: dict) -> None:
    literal = []
    for where, env in all_environments(compose).items():
        for key, value in env.items():
            value = str(value)
            if is_secret_name(key) and not is_secret_reference(value):
                literal.append((where, key))
            for password in URL_PASSWORD.findall(value):
                if not is_secret_reference(password):
                    literal.append((where, key, "URL password"))
            if value.lstrip().startswith("{"):
                password = json.loads(value).get("password")
                if password is not None and not is_secret_reference(password):
                    literal.append((where, key, "connection password"))
    assert literal == []
    # A secret never has a default anywhere in the file (`${X_PASSWORD:-...}` would be a literal).
    text = COMPOSE_FILE.read_text()
    defaults = [m[0] for m in REF.finditer(text) if is_secret_name(m["name"]) and m["op"] in (":-", "-")]
    assert defaults == []


def test_env_example_lists_every_required_variable_without_values() -> None:
    text = COMPOSE_FILE.read_text()
    required = {m["name"] for m in REF.finditer(text) if m["op"] in (None, ":?", "?")}
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert sorted(required - set(example)) == []
    filled = [name for name, value in example.items() if is_secret_name(name) and value.strip()]
    assert filled == []


def test_postgres_init_creates_roles_and_databases() -> None:
    scripts = sorted(POSTGRES_INIT.glob("*.sh")) + sorted(POSTGRES_INIT.glob("*.sql"))
    assert scripts, f"no init script in {POSTGRES_INIT}"
    sql = "\n".join(p.read_text() for p in scripts)
    for role in [*bootstrap.ROLES.values(), bootstrap.AIRFLOW_ROLE]:
        assert re.search(rf"CREATE ROLE {role} LOGIN PASSWORD :'\w+'", sql), role
    assert re.search(rf"CREATE DATABASE {bootstrap.AIRFLOW_DB} OWNER {bootstrap.AIRFLOW_ROLE}\b", sql)
    assert re.search(rf"CREATE DATABASE {bootstrap.WAREHOUSE_DB}\b", sql)
    assert not re.search(r"PASSWORD\s+'", sql), "literal password in docker/postgres-init"


def test_dockerfile_matches_requirements(compose: dict) -> None:
    text = DOCKERFILE.read_text()
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pin
    assert re.search(rf"^FROM apache/airflow:{re.escape(pin[1])}-python3\.11$", text, re.M)
    assert re.search(r"pip install .*-r /opt/airflow/requirements\.txt", text)
    # The package is installed editable from the path the compose file mounts ./include over.
    assert re.search(rf"COPY .*include/ {CONTAINER_ROOT}/include/", text)
    assert re.search(rf"pip install .*--no-deps -e {CONTAINER_ROOT}\b", text)

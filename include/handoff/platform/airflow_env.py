"""The Airflow configuration of a Handoff deployment, as environment variables.

Airflow is configured only through AIRFLOW__* variables built here (never by editing
airflow.cfg), so the CLI, the tests and docker-compose.yaml share one definition.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from handoff.config import REPO_ROOT

ADMIN_USER = "admin"


def sqlalchemy_url(url: str) -> str:
    """Airflow's metadata DB URL: the psycopg2 dialect SQLAlchemy expects."""
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def airflow_settings(*, parallelism: int, idle_sleep: float, api_port: int,
                     api_host: str = "localhost") -> dict[str, str]:
    """Settings that do not depend on where things live: shared with docker-compose.yaml.

    `api_host` is where tasks reach the execution API: localhost here, the api-server's service
    name in containers (each container's localhost is its own).
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # "Test connection" in the UI (off by default in Airflow 3): each system's hook reads one record.
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": str(idle_sleep),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
        # astronomer-cosmos reports every task and DAG run to a third party unless told not to.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }


def airflow_environment(
    *, home: Path, db_url: str, secrets: dict[str, str], parallelism: int, idle_sleep: float,
    api_port: int, connections: dict[str, str],
) -> dict[str, str]:
    """Full environment for Airflow processes (and `airflow` commands) of a local deployment."""
    airflow_home = home / "airflow"
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(db_url),
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secrets["api_secret_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "admin_password.json"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
        **airflow_settings(parallelism=parallelism, idle_sleep=idle_sleep, api_port=api_port),
        **connections,
    }
    return env


def scratch_airflow_environment(airflow_home: Path, db_url: str, *, api_port: int) -> dict[str, str]:
    """A throwaway Airflow for `dag.test()` (the test suite, the dbt benchmark): its metadata DB at
    `db_url`, the repository's dags/ and plugins/, two workers, a short scheduler loop."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(db_url),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        **airflow_settings(parallelism=2, idle_sleep=0.2, api_port=api_port),
    }


def write_admin_password(airflow_home: Path, password: str) -> Path:
    """Pre-seed SimpleAuthManager's password file so the login is our generated password."""
    path = airflow_home / "admin_password.json"
    airflow_home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({ADMIN_USER: password}))
    path.chmod(0o600)
    return path


def with_env(extra: dict[str, str]) -> dict[str, str]:
    """The current environment overlaid with `extra` (for subprocesses)."""
    env = dict(os.environ)
    env.update(extra)
    return env

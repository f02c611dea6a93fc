"""`handoff up / down / status`: the local deployment, one idempotent step at a time.

Order on the way up: the port check, secrets, Postgres (embedded unless HANDOFF_*_URL are set),
roles and databases, warehouse schemas, the dbt manifest and docs (`dbt docs generate` as the
transformer: the transform DAG is drawn from that manifest), simulators, Airflow metadata DB,
then the four Airflow parts; last, the analyst's connection string. Before anything starts, every port `up` will bind is checked: a port another program holds
stops `up` with one line naming the port, the part and the variable that moves it (a part of this
deployment already running keeps its port: that is the idempotent re-run). A part that exits
while `up` waits for it fails `up` at once, naming the part and its log.
`down` stops them in reverse and leaves no process behind; data stays in `.local/`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from handoff.config import REPO_ROOT, Settings
from handoff.platform import bootstrap
from handoff.platform.airflow_env import ADMIN_USER, airflow_environment, with_env, write_admin_password
from handoff.platform.connections import SYSTEMS, connection_env
from handoff.platform.postgres import LocalPostgres
from handoff.platform.processes import Service, Supervisor, instance_of, port_holder, port_is_free
from handoff.platform.secrets import load_or_create

AIRFLOW_PARTS = ("api-server", "scheduler", "dag-processor", "triggerer")
PG_SERVICE = "postgres"
API_SERVICE = "airflow-api-server"
SIM_SERVICE = "simulators"
ALREADY_RUNS = {PG_SERVICE: "PostgreSQL of this deployment already runs",
                API_SERVICE: "the Airflow api-server of this deployment already runs",
                SIM_SERVICE: "the simulators of this deployment already run"}


class PlatformError(RuntimeError):
    """`handoff up` cannot go on; the message says why and what to change (printed without a traceback)."""


@dataclass(frozen=True)
class PortNeed:
    """A port `up` binds: which part wants it and which variable moves it."""

    port: int
    part: str  # as the user knows it: "kantata simulator"
    variable: str  # the setting that moves it
    service: str  # the process of this deployment that listens on it
    host: str = "127.0.0.1"  # "localhost": both loopback addresses (a browser's address)


def say(msg: str) -> None:
    print(f"[handoff] {msg}", flush=True)


def _bin(name: str) -> str:
    """A console script of this virtualenv (airflow, handoff), found beside the interpreter."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


@dataclass
class Deployment:
    settings: Settings
    # The raw tables the warehouse migration creates, as (source, stream): supplied by the caller
    # (the CLI reads the extract registry), so the platform does not depend on the extract layer.
    raw_tables: Callable[[], list[tuple[str, str]]] | None = None

    def __post_init__(self) -> None:
        self.home = Path(self.settings.home).resolve()
        self.supervisor = Supervisor(self.home)
        self.cluster = LocalPostgres(root=self.home / "postgres", port=self.settings.pg_port)

    # ---- addresses -------------------------------------------------------------------------
    def sim_ports(self) -> dict[str, int]:
        """salesforce = HANDOFF_SIM_PORT_BASE, the others follow in SYSTEMS order."""
        return {s: self.settings.sim_port_base + i for i, s in enumerate(SYSTEMS)}

    def sim_urls(self) -> dict[str, str]:
        return {s: f"http://127.0.0.1:{port}" for s, port in self.sim_ports().items()}

    def ui_url(self) -> str:
        return f"http://localhost:{self.settings.airflow_port}"

    def _urls(self, secrets: dict[str, str]) -> tuple[str, str, str]:
        """(admin URL or '', warehouse URL for the loader, airflow metadata DB URL)."""
        s = self.settings
        if s.external_postgres:
            if not (s.warehouse_url and s.airflow_db_url):
                missing = "HANDOFF_AIRFLOW_DB_URL" if s.warehouse_url else "HANDOFF_WAREHOUSE_URL"
                raise PlatformError(f"external Postgres needs both URLs: {missing} is not set")
            return "", s.warehouse_url, s.airflow_db_url
        base = self.cluster.url("postgres")
        return (
            _with_password(base, "postgres", secrets["postgres"]),
            _with_password(self.cluster.url(bootstrap.WAREHOUSE_DB), bootstrap.ROLES["loader"], secrets["loader"]),
            _with_password(self.cluster.url(bootstrap.AIRFLOW_DB), bootstrap.AIRFLOW_ROLE, secrets["airflow_db"]),
        )

    def dbt_artifacts(self) -> Path:
        """Where `up` puts the dbt manifest and docs (HANDOFF_DBT_ARTIFACTS of the Airflow parts)."""
        return self.home / "dbt" / "target"

    def role_url(self, role: str, secrets: dict[str, str], with_password: bool = True) -> str:
        """A warehouse URL for `role` (analyst, loader, transformer, or admin = postgres)."""
        s = self.settings
        user = "postgres" if role == "admin" else bootstrap.ROLES[role]
        if s.external_postgres:
            parts = urlsplit(s.warehouse_url or "")
            host, port, db = parts.hostname, parts.port or 5432, parts.path.lstrip("/") or bootstrap.WAREHOUSE_DB
            password = parts.password if user == parts.username else None
        else:
            host, port, db = self.cluster.host, self.cluster.port, bootstrap.WAREHOUSE_DB
            password = secrets["postgres" if role == "admin" else role]
        auth = f"{user}:{password}" if with_password and password else user
        return f"postgresql://{auth}@{host}:{port}/{db}"

    def airflow_env(self, secrets: dict[str, str]) -> dict[str, str]:
        """The environment of Airflow processes: this process's, overlaid with `airflow_vars`."""
        return with_env(self.airflow_vars(secrets))

    def airflow_vars(self, secrets: dict[str, str]) -> dict[str, str]:
        """AIRFLOW_* (settings and connections) and PATH for this deployment."""
        _, warehouse_url, airflow_db_url = self._urls(secrets)
        conns = connection_env(self.sim_urls(), secrets["sim_client_id"], secrets["sim_client_secret"], warehouse_url,
                               sim_pacing=self.settings.sim_pacing)
        s = self.settings
        env = airflow_environment(
            home=self.home, db_url=airflow_db_url, secrets=secrets, parallelism=s.airflow_parallelism,
            idle_sleep=s.scheduler_idle_sleep_seconds, api_port=s.airflow_port, connections=conns,
        )
        env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        if not s.external_postgres:
            env |= dbt_environment(self.cluster.host, self.cluster.port, secrets["transformer"])
        env["HANDOFF_DBT_ARTIFACTS"] = str(self.dbt_artifacts())
        # cosmos' partial-parse and profile cache: this deployment's own (default: /tmp/cosmos, shared)
        env["AIRFLOW__COSMOS__CACHE_DIR"] = str(self.home / "dbt" / "cosmos-cache")
        return env

    # ---- up ----------------------------------------------------------------------------------
    def port_needs(self) -> list[PortNeed]:
        """Every port this deployment listens on with the current settings."""
        s = self.settings
        needs = []
        if not s.external_postgres:
            needs.append(PortNeed(s.pg_port, "PostgreSQL", "HANDOFF_PG_PORT", PG_SERVICE))
        needs.append(PortNeed(s.airflow_port, "Airflow UI/API", "HANDOFF_AIRFLOW_PORT", API_SERVICE, host="localhost"))
        if s.start_simulators:
            needs += [PortNeed(port, f"{system} simulator", "HANDOFF_SIM_PORT_BASE", SIM_SERVICE)
                      for system, port in self.sim_ports().items()]
        return needs

    def _already_up(self, service: str) -> tuple[bool, int | None]:
        """(whether this deployment's `service` is running, the port setting it was started with if known)."""
        if service == PG_SERVICE:
            if self.cluster.initialized() and self.cluster.is_running():
                return True, self.cluster.running_port()
            return False, None
        if self.supervisor.pid(service) is None:
            return False, None
        value = self.supervisor.argument(service, "--port-base" if service == SIM_SERVICE else "--port")
        return True, int(value) if value and value.isdigit() else None

    def port_problems(self) -> list[str]:
        """Why `up` could not listen where the settings say, one line each; [] when it can.

        Only reads: it runs before anything is written or started. A part of this deployment that
        is already up keeps its ports (the idempotent re-run), unless it was started with another
        port setting than the current one; any other program holding a needed port is a conflict.
        """
        needs = self.port_needs()
        problems = []
        by_port: dict[int, PortNeed] = {}
        for need in needs:
            other = by_port.setdefault(need.port, need)
            if other is not need:
                problems.append(f"port {need.port} is wanted by both the {other.part} ({other.variable}) and "
                                f"the {need.part} ({need.variable}); change one of them")
        if problems:
            return problems
        up = {service: self._already_up(service) for service in dict.fromkeys(n.service for n in needs)}
        for need in needs:
            running, started_with = up[need.service]
            if not running:
                if not port_is_free(need.port, need.host):
                    problems.append(self._conflict(need))
                continue
            setting = getattr(self.settings, need.variable.removeprefix("HANDOFF_").lower())
            if started_with is not None and started_with != setting:
                problems.append(f"{ALREADY_RUNS[need.service]} with {need.variable}={started_with}, not "
                                f"{setting}: run `handoff down` first, or set {need.variable}={started_with}")
                up[need.service] = (True, None)  # one line per part
        return problems

    def _conflict(self, need: PortNeed) -> str:
        holder = port_holder(need.port)
        who = "another program"
        if holder is not None:
            try:
                who += f" ({holder.name()}, pid {holder.pid})"
            except psutil.Error:
                pass
            if instance_of(holder) == str(self.home):
                return (f"port {need.port} ({need.part}) is held by a leftover process of this deployment "
                        f"(pid {holder.pid}): run `handoff down`, then `handoff up`")
        move = (f"set {need.variable} to move the simulators (now ports {self.settings.sim_port_base}-"
                f"{self.settings.sim_port_base + len(SYSTEMS) - 1})" if need.variable == "HANDOFF_SIM_PORT_BASE"
                else f"set {need.variable} to a free port")
        return f"port {need.port} ({need.part}) is taken by {who}; {move}"

    def up(self) -> None:
        if self.raw_tables is None:
            raise PlatformError("Deployment.raw_tables is not set: the warehouse migration needs the raw tables")
        problems = self.port_problems()
        if problems:
            raise PlatformError("\n".join(problems))
        secrets, _ = load_or_create(self.home / "secrets.json")
        admin_url, warehouse_url, _ = self._urls(secrets)
        if admin_url:
            say(f"postgres: {self.cluster.origin} binaries ({self.cluster.bin_dir}), port {self.cluster.port}")
            self.cluster.init(superuser_password=secrets["postgres"])
            self.cluster.start()
            bootstrap.bootstrap(admin_url, secrets)
            self._migrate_warehouse(admin_url.rsplit("/", 1)[0] + f"/{bootstrap.WAREHOUSE_DB}")
        else:
            say("postgres: using HANDOFF_WAREHOUSE_URL and HANDOFF_AIRFLOW_DB_URL (nothing started)")
            self._migrate_warehouse(warehouse_url)
        env = self.airflow_env(secrets)
        self._build_dbt_artifacts(env)
        if self.settings.start_simulators:
            self._start_simulators(secrets)
        write_admin_password(self.home / "airflow", secrets["admin_ui"])
        say("airflow: migrating the metadata database")
        proc = subprocess.run([_bin("airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise PlatformError(f"airflow db migrate failed; its output ends:\n{proc.stderr[-3000:]}")
        for part in AIRFLOW_PARTS:
            argv = [_bin("airflow"), part]
            if part == "api-server":
                argv += ["--host", "127.0.0.1", "--port", str(self.settings.airflow_port), "--workers", "1"]
            pid, started = self.supervisor.start(Service(f"airflow-{part}", argv), env)
            say(f"airflow {part}: {'started' if started else 'already running'} (pid {pid})")
        airflow_services = [f"airflow-{part}" for part in AIRFLOW_PARTS]
        self._wait_http(f"{self.ui_url()}/api/v2/monitor/health", "airflow api-server", timeout=180,
                        watch=airflow_services)
        self._check_alive(airflow_services)
        say(f"Airflow UI: {self.ui_url()}  user: {ADMIN_USER}")
        shown = self.home / "airflow" / ".admin_password_shown"
        if not shown.exists():
            say(f"admin password (shown once; kept in {self.home / 'airflow' / 'admin_password.json'}): "
                f"{secrets['admin_ui']}")
            shown.touch()
        else:
            say(f"admin password: in {self.home / 'airflow' / 'admin_password.json'}")
        if self.settings.external_postgres:
            say(f"analyst: role {bootstrap.ROLES['analyst']} on {self.role_url('analyst', secrets, False)}")
        else:
            say(f"analyst (read-only: canonical, marts): {self.role_url('analyst', secrets)}")
        say("  or: handoff psql --analyst")

    def _build_dbt_artifacts(self, env: dict[str, str]) -> None:
        """`dbt docs generate` (manifest, catalog, docs page) into dbt_artifacts(), as the transformer.

        The transform DAG is drawn from that manifest and the UI serves those docs. A project that
        does not compile still gets a manifest (`dbt parse`); a project that does not parse leaves
        the previous manifest and a warning: the platform comes up either way.
        """
        project = Path(env.get("DBT_PROJECT_DIR") or REPO_ROOT / "dbt_project")
        target = self.dbt_artifacts()
        target.mkdir(parents=True, exist_ok=True)
        log = self.supervisor.log_dir / "dbt-setup.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        dbt_env = env | {"DBT_LOG_PATH": str(self.supervisor.log_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
        base = ["--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(target)]
        t0 = time.monotonic()
        with log.open("a") as out:
            for command in (["docs", "generate"], ["parse"]):
                proc = subprocess.run([_bin("dbt"), *command, *base], env=dbt_env, cwd=project, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=900)
                if proc.returncode == 0:
                    say(f"dbt: {' '.join(command)} done in {time.monotonic() - t0:.0f}s ({target})")
                    return
                say(f"dbt: {' '.join(command)} failed (rc {proc.returncode}); see {log}")
        if not (target / "manifest.json").exists():
            say("dbt: no manifest: the transform DAG shows why until `handoff up` can parse the project")

    def _migrate_warehouse(self, admin_warehouse_url: str) -> None:
        import psycopg

        from handoff.warehouse import migrate

        raw_tables = self.raw_tables()
        with psycopg.connect(admin_warehouse_url) as conn:
            migrate(conn, raw_tables)
        say("warehouse: schemas migrated")

    def _start_simulators(self, secrets: dict[str, str]) -> None:
        s = self.settings
        argv = [_bin("handoff"), "sim", "serve", "--seed", str(s.sim_seed), "--scale", s.sim_scale,
                "--host", "127.0.0.1", "--port-base", str(s.sim_port_base),
                "--tick-seconds", str(s.sim_tick_seconds), "--pacing", s.sim_pacing]
        env = with_env({"HANDOFF_SIM_CLIENT_ID": secrets["sim_client_id"],
                        "HANDOFF_SIM_CLIENT_SECRET": secrets["sim_client_secret"]})
        pid, started = self.supervisor.start(Service(SIM_SERVICE, argv), env)
        say(f"simulators: {'started' if started else 'already running'} (pid {pid})")
        for system, url in self.sim_urls().items():
            self._wait_http(f"{url}/__sim/health", f"{system} simulator", timeout=120, watch=[SIM_SERVICE])
            say(f"  {system:<10} {url}")

    def _wait_http(self, url: str, what: str, timeout: float, watch: Sequence[str] = ()) -> None:
        """Wait for `url` to answer 200; fail at once when a service in `watch` exits meanwhile.

        The first service in `watch` is the one serving `url`: its log is named on a timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            self._check_alive(watch)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        log = self.supervisor.log_file(watch[0]) if watch else self.supervisor.log_dir
        raise PlatformError(f"{what} did not answer at {url} within {timeout:.0f}s; see {log}")

    def _check_alive(self, services: Sequence[str]) -> None:
        for name in services:
            if self.supervisor.pid(name) is None:
                part = name.replace("airflow-", "airflow ", 1)
                raise PlatformError(f"{part} exited while starting; see {self.supervisor.log_file(name)}")

    # ---- down / status -------------------------------------------------------------------------
    def down(self) -> None:
        for part in reversed(AIRFLOW_PARTS):
            if self.supervisor.stop(f"airflow-{part}"):
                say(f"airflow {part}: stopped")
        if self.supervisor.stop(SIM_SERVICE):
            say("simulators: stopped")
        strays = self.supervisor.kill_strays()
        if strays:
            say(f"ended {strays} stray process(es) of this instance")
        if not self.settings.external_postgres and self.cluster.initialized() and self.cluster.is_running():
            self.cluster.stop()
            say("postgres: stopped (data kept in .local/postgres)")
        say("down")

    def status(self) -> dict:
        info: dict = {"home": str(self.home)}
        if self.settings.external_postgres:
            info["postgres"] = "external (HANDOFF_WAREHOUSE_URL / HANDOFF_AIRFLOW_DB_URL)"
        else:
            running = self.cluster.initialized() and self.cluster.is_running()
            info["postgres"] = (f"running on 127.0.0.1:{self.cluster.running_port()} (pid {self.cluster.pid()})"
                                if running else "stopped")
        sim_pid = self.supervisor.pid(SIM_SERVICE)
        info["simulators"] = ({s: u for s, u in self.sim_urls().items()} | {"pid": sim_pid}
                              if sim_pid else "stopped")
        info["airflow"] = {p: (f"running (pid {pid})" if (pid := self.supervisor.pid(f"airflow-{p}")) else "stopped")
                           for p in AIRFLOW_PARTS}
        info["ui"] = self.ui_url()
        return info


def dbt_environment(host: str, port: int, password: str, dbname: str = bootstrap.WAREHOUSE_DB) -> dict[str, str]:
    """What dbt_project/profiles.yml reads: the transformer role on the warehouse."""
    return {
        "HANDOFF_DBT_HOST": host, "HANDOFF_DBT_PORT": str(port), "HANDOFF_DBT_USER": bootstrap.ROLES["transformer"],
        "HANDOFF_DBT_PASSWORD": password, "HANDOFF_DBT_DBNAME": dbname,
        "DBT_PROFILES_DIR": str(REPO_ROOT / "dbt_project"), "DBT_PROJECT_DIR": str(REPO_ROOT / "dbt_project"),
    }


def psql_command(deployment: Deployment, role: str, secrets: dict[str, str],
                 extra: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of psql connected to the warehouse as `role` (admin, analyst, loader)."""
    from handoff.platform.postgres import find_bin_dir

    try:
        psql = find_bin_dir()[0] / "psql"
    except Exception:  # noqa: BLE001 - no server binaries: any psql on PATH will do
        psql = None
    if psql is None or not psql.exists():
        found = shutil.which("psql")
        if not found:
            raise PlatformError("psql is not installed (apt-get install postgresql-client)")
        psql = Path(found)
    full = urlsplit(deployment.role_url(role, secrets))
    env = with_env({"PGPASSWORD": full.password or "", "PGAPPNAME": f"handoff psql {role}"})
    if not full.password:
        env.pop("PGPASSWORD")
    return [str(psql), deployment.role_url(role, secrets, with_password=False), *extra], env


def print_status(info: dict) -> None:
    print(json.dumps(info, indent=2))

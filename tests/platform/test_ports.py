"""Start-up faults of `handoff up` give one clear line, before anything starts.

A port `up` needs but another program holds (the Airflow UI, a simulator, Postgres) fails `up` at
once with one line naming the port, the part and the variable that moves it, with nothing written
or started. A part of this deployment already up is not a conflict (the idempotent re-run), and a
part that exits while `up` waits for it fails `up` at once, naming the part and its log.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import pytest
from cli_env import HANDOFF, sim_port_base

from handoff.config import Settings
from handoff.platform.deployment import API_SERVICE, SIM_SERVICE, Deployment, PlatformError
from handoff.platform.processes import INSTANCE_VAR, Service, Supervisor, port_is_free


@pytest.fixture
def env(user_env):
    return user_env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("HANDOFF_").lower(): v for k, v in env.items() if k.startswith("HANDOFF_")})


@contextmanager
def occupied(port: int, host: str = "127.0.0.1"):
    """Another program on `port`: a plain listening socket."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, port))
        s.listen()
        yield s


def processes_of(home: Path) -> list[str]:
    """Live processes of the deployment in `home`: its path on their command line or in their environment."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.info["cmdline"] or [])
            environ = proc.environ()
            if str(home) in cmd or str(home) in (environ.get("HANDOFF_HOME"), environ.get(INSTANCE_VAR)):
                found.append(f"{proc.pid} {cmd[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def up_fails_with_one_line(env: dict[str, str]) -> str:
    """Run `handoff up`; it must fail with exactly one line and leave nothing behind. Returns the line."""
    home = Path(env["HANDOFF_HOME"])
    proc = subprocess.run([HANDOFF, "up"], env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode not in (0, None), output
    assert "Traceback" not in output
    assert proc.stdout == "", "nothing is announced as starting"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, output
    assert not home.exists(), "nothing written: no secrets, no Postgres data dir, no pid files"
    assert processes_of(home) == []
    return lines[0]


def test_airflow_ui_port_taken(env):
    port = int(env["HANDOFF_AIRFLOW_PORT"])
    with occupied(port):
        line = up_fails_with_one_line(env)
    assert f"port {port} (Airflow UI/API) is taken by another program" in line
    assert "HANDOFF_AIRFLOW_PORT" in line
    assert f"pid {os.getpid()}" in line, "the holder is named when it can be seen"


def test_simulator_port_taken_names_the_system_and_its_port(env):
    base = int(env["HANDOFF_SIM_PORT_BASE"])
    with occupied(base + 2):
        line = up_fails_with_one_line(env)
    assert f"port {base + 2} (kantata simulator) is taken by another program" in line
    assert "HANDOFF_SIM_PORT_BASE" in line
    assert "salesforce" not in line


def test_postgres_port_taken(env):
    port = int(env["HANDOFF_PG_PORT"])
    with occupied(port):
        line = up_fails_with_one_line(env)
    assert f"port {port} (PostgreSQL) is taken by another program" in line
    assert "HANDOFF_PG_PORT" in line


def test_ui_port_taken_on_ipv6_loopback_only(env):
    """The UI address is http://localhost:PORT; a browser tries ::1 first, so a program there would answer."""
    port = int(env["HANDOFF_AIRFLOW_PORT"])
    with ExitStack() as stack:
        try:
            stack.enter_context(occupied(port, "::1"))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                pytest.skip("no IPv6 loopback here")
            raise
        line = up_fails_with_one_line(env)
    assert f"port {port} (Airflow UI/API)" in line and "HANDOFF_AIRFLOW_PORT" in line


def test_unneeded_ports_are_not_checked(env):
    """External Postgres: its port is not ours; no simulators: theirs neither."""
    env = env | {"HANDOFF_WAREHOUSE_URL": "postgresql://u@127.0.0.1:1/w", "HANDOFF_AIRFLOW_DB_URL":
                 "postgresql://u@127.0.0.1:1/a", "HANDOFF_START_SIMULATORS": "false"}
    deployment = Deployment(settings_of(env))
    base = int(env["HANDOFF_SIM_PORT_BASE"])
    with occupied(int(env["HANDOFF_PG_PORT"])), occupied(base + 2):
        assert deployment.port_problems() == []
    with occupied(int(env["HANDOFF_AIRFLOW_PORT"])):
        assert len(deployment.port_problems()) == 1


def test_settings_that_collide_are_named(env):
    base = int(env["HANDOFF_SIM_PORT_BASE"])
    problems = Deployment(settings_of(env | {"HANDOFF_AIRFLOW_PORT": str(base + 2)})).port_problems()
    assert problems == [f"port {base + 2} is wanted by both the Airflow UI/API (HANDOFF_AIRFLOW_PORT) and the "
                        "kantata simulator (HANDOFF_SIM_PORT_BASE); change one of them"]


def test_time_wait_does_not_count_as_taken():
    """A server stopped a moment ago leaves TIME_WAIT connections on its port; a new server binds it fine."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        assert not port_is_free(port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: TIME_WAIT is on the server's port
        client.recv(1)
        client.close()
    deadline = time.monotonic() + 5
    while not any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
                  for c in psutil.net_connections(kind="tcp4")):
        assert time.monotonic() < deadline, "no TIME_WAIT connection to test with"
        time.sleep(0.05)
    assert port_is_free(port)


LISTENER = """
import socket, sys, time
socks = []
for port in map(int, sys.argv[1].split(",")):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(); socks.append(s)
print("listening", flush=True)
time.sleep(600)
"""


def start_listening_service(supervisor: Supervisor, name: str, ports: list[int], *args: str) -> int:
    """A supervised service of the deployment (pidfile and all) that listens on `ports`."""
    argv = [sys.executable, "-c", LISTENER, ",".join(map(str, ports)), *args]
    pid, started = supervisor.start(Service(name, argv), dict(os.environ))
    assert started
    deadline = time.monotonic() + 30
    while any(port_is_free(p) for p in ports):
        assert supervisor.pid(name), supervisor.log_file(name).read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pid


def test_parts_of_this_deployment_already_up_are_not_conflicts(env):
    """The idempotent re-run: our own simulators and api-server hold their ports; nobody else may."""
    deployment = Deployment(settings_of(env))
    base, ui = int(env["HANDOFF_SIM_PORT_BASE"]), int(env["HANDOFF_AIRFLOW_PORT"])
    supervisor = deployment.supervisor
    try:
        sim_pid = start_listening_service(supervisor, SIM_SERVICE, [base + i for i in range(5)],
                                          "--port-base", str(base))
        start_listening_service(supervisor, API_SERVICE, [ui], "--port", str(ui))
        assert deployment.port_problems() == []

        # The same parts, but the settings now say other ports: they must be stopped first.
        moved = Deployment(settings_of(env | {"HANDOFF_SIM_PORT_BASE": str(sim_port_base())}))
        assert moved.port_problems() == [
            f"the simulators of this deployment already run with HANDOFF_SIM_PORT_BASE={base}, not "
            f"{moved.settings.sim_port_base}: run `handoff down` first, or set HANDOFF_SIM_PORT_BASE={base}"]

        # A process of this deployment that lost its pidfile is not "already up": it is a leftover.
        (supervisor.run_dir / f"{SIM_SERVICE}.pid").unlink()
        problems = deployment.port_problems()
        assert len(problems) == 5
        assert problems[2].startswith(f"port {base + 2} (kantata simulator) is held by a leftover process "
                                      f"of this deployment (pid {sim_pid})")
    finally:
        supervisor.stop(API_SERVICE)
        supervisor.stop(SIM_SERVICE)
        supervisor.kill_strays()
    assert processes_of(deployment.home) == []


def test_a_part_that_exits_while_starting_fails_up_at_once(env):
    """Not a wait for the health check's timeout: the dead part and its log, straight away."""
    deployment = Deployment(settings_of(env))
    supervisor = deployment.supervisor
    supervisor.start(Service(API_SERVICE, [sys.executable, "-c", "import sys; sys.exit('address already in use')"]),
                     dict(os.environ))
    began = time.monotonic()
    with pytest.raises(PlatformError) as err:
        deployment._wait_http(f"{deployment.ui_url()}/api/v2/monitor/health", "airflow api-server", timeout=300,
                              watch=[API_SERVICE])
    assert time.monotonic() - began < 60, "failed only at the timeout"
    log = supervisor.log_file(API_SERVICE)
    assert str(err.value) == f"airflow api-server exited while starting; see {log}"
    assert "address already in use" in log.read_text()

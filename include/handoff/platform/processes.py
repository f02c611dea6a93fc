"""Long-running processes of a local deployment, each in its own process group, and their ports.

`airflow standalone` leaves its scheduler and workers orphaned on SIGTERM, so Handoff starts each
part itself with `start_new_session=True`, records the pid (= process group id), its start time
and its command line in `.local/run/<part>.pid`, and stops whole groups. Every process also carries HANDOFF_INSTANCE in its
environment, so `stop_all` can find and end strays that left their group.

`port_is_free` is the one port check of the platform (`handoff up`, the embedded Postgres, tests).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

INSTANCE_VAR = "HANDOFF_INSTANCE"

LOOPBACK = {"127.0.0.1": socket.AF_INET, "::1": socket.AF_INET6}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """A server could listen on host:port now: nothing else listens on it or holds it bound.

    The probe binds with SO_REUSEADDR, as servers do (Postgres, uvicorn, the simulators), so
    connections in TIME_WAIT from a server stopped a moment ago do not count. `localhost` means
    both loopback addresses: a browser opening http://localhost:PORT tries ::1 first, so a program
    listening there would answer instead of ours (::1 is skipped where IPv6 is off).
    """
    hosts = LOOPBACK if host == "localhost" else {host: socket.AF_INET6 if ":" in host else socket.AF_INET}
    for address, family in hosts.items():
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 on this machine
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE or family == socket.AF_INET:
                    return False
    return True


def port_is_listening(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def port_holder(port: int) -> psutil.Process | None:
    """The process listening on `port` (any address), if this user may see it (best effort)."""
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            try:
                return psutil.Process(conn.pid)
            except psutil.NoSuchProcess:
                return None
    return None


def instance_of(proc: psutil.Process) -> str | None:
    """The HANDOFF_HOME whose deployment started `proc`, or None for another program."""
    try:
        return proc.environ().get(INSTANCE_VAR)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass
class Service:
    name: str
    argv: list[str]


class Supervisor:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"

    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of a running service, or None (a stale pidfile is removed)."""
        path = self._pidfile(name)
        try:
            pid_text, started = path.read_text().split("\n", 1)[0].split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        try:
            # The same pid and start time: not a recycled pid (environ can't tell: setproctitle rewrites it).
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and abs(proc.create_time() - float(started)) < 0.01:
                return pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        path.unlink(missing_ok=True)
        return None

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def argument(self, name: str, flag: str) -> str | None:
        """The value of `flag` in the command line the running service `name` was started with.

        Read from its pidfile (the process's own command line may be rewritten by setproctitle);
        None when it is not running, or when it was started before the command line was recorded.
        """
        if self.pid(name) is None:
            return None
        try:
            argv = json.loads(self._pidfile(name).read_text().split("\n", 1)[1])
        except (OSError, ValueError, IndexError):
            return None
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None

    def start(self, service: Service, env: dict[str, str]) -> tuple[int, bool]:
        """Start unless running; returns (pid, started_now)."""
        existing = self.pid(service.name)
        if existing:
            return existing, False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file(service.name), "ab") as log:
            proc = subprocess.Popen(
                service.argv, env={**env, INSTANCE_VAR: str(self.home)}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(self.home.parent),
            )
        started = psutil.Process(proc.pid).create_time()
        self._pidfile(service.name).write_text(f"{proc.pid} {started}\n{json.dumps(service.argv)}\n")
        return proc.pid, True

    def stop(self, name: str, timeout: float = 20) -> bool:
        pid = self.pid(name)
        self._pidfile(name).unlink(missing_ok=True)
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
        return True

    def strays(self) -> list[psutil.Process]:
        """Processes of this instance still alive outside their group (best effort: by environment)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid():
                continue
            try:
                if proc.environ().get(INSTANCE_VAR) == str(self.home) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def kill_strays(self, timeout: float = 10) -> int:
        procs = self.strays()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        return len(procs)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return False

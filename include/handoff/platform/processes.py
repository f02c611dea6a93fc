"""Long-running processes of a local deployment, each in its own process group.

`airflow standalone` leaves its scheduler and workers orphaned on SIGTERM, so Handoff starts each
part itself with `start_new_session=True`, records the pid (= process group id) under
`.local/run/`, and stops whole groups. Every process also carries HANDOFF_INSTANCE in its
environment, so `stop_all` can find and end strays that left their group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

INSTANCE_VAR = "HANDOFF_INSTANCE"


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
            pid_text, started = path.read_text().split()
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
        self._pidfile(service.name).write_text(f"{proc.pid} {psutil.Process(proc.pid).create_time()}")
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

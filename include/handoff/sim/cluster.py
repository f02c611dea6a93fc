"""SimCluster: one world, up to five servers on loopback, an optional background clock."""

from __future__ import annotations

import copy
import importlib
import threading

from handoff.systems import NAMES

from . import clock
from .http import SimCredentials, SystemServer
from .pacing import system_config
from .world import World

SERVERS = {"salesforce": "salesforce:SalesforceServer", "hubspot": "hubspot:HubSpotServer",
           "kantata": "kantata:KantataServer", "workday": "workday:WorkdayServer",
           "netsuite": "netsuite:NetSuiteServer"}


def server_class(system: str) -> type[SystemServer]:
    mod, cls = SERVERS[system].split(":")
    return getattr(importlib.import_module(f"{__package__}.{mod}"), cls)


class SimCluster:
    SYSTEMS = NAMES  # the registry's order is the port order (HANDOFF_SIM_PORT_BASE + position)

    def __init__(self, seed: int = 7, scale: str = "tiny", credentials: SimCredentials | None = None,
                 host: str = "127.0.0.1", ports: dict | None = None, tick_seconds: float | None = None,
                 token_ttl_seconds: float = 3600, faults: dict | None = None, systems=None, pacing="off"):
        if credentials is None:
            raise ValueError("credentials are required: SimCredentials(client_id=..., client_secret=...)")
        self.seed, self.scale, self.credentials, self.host = seed, scale, credentials, host
        self.ports = dict(ports or {})
        self.tick_seconds, self.token_ttl_seconds = tick_seconds, token_ttl_seconds
        self.faults = dict(faults or {})
        self.systems = tuple(systems or self.SYSTEMS)
        unknown = (set(self.systems) | set(self.faults) | set(self.ports)) - set(self.SYSTEMS)
        if unknown:
            raise ValueError(f"unknown systems: {sorted(unknown)}")
        # "off", "documented", "realistic" or a dict per system (handoff.sim.pacing); checked now
        self.pacing = {s: system_config(pacing, s) for s in self.systems}
        self.world: World | None = None
        self.servers: dict[str, SystemServer] = {}
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> SimCluster:
        self.world = World(self.seed, self.scale)
        try:
            for system in self.systems:
                srv = server_class(system)(self.world, self.credentials, self.token_ttl_seconds,
                                           self.faults.get(system), self.host, self.ports.get(system) or 0,
                                           pacing=self.pacing[system])
                self.servers[system] = srv.start()
        except Exception:
            self.stop()
            raise
        if self.tick_seconds:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="sim-clock", daemon=True)
            self._ticker.start()
        return self

    def _tick_loop(self):
        while not self._stop.wait(self.tick_seconds):
            self.world.advance(1)

    def stop(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(timeout=10)
            self._ticker = None
        for srv in self.servers.values():
            srv.stop()
        self.servers = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- access --------------------------------------------------------------------------
    def _server(self, system: str) -> SystemServer:
        if system not in self.servers:
            raise KeyError(f"{system} is not running (systems={self.systems})")
        return self.servers[system]

    def url(self, system: str) -> str:
        return self._server(system).url

    @property
    def tick(self) -> int:
        return self.world.tick

    def now(self):
        return clock.to_dt(self.world.now)

    def advance(self, steps: int = 1) -> int:
        return self.world.advance(steps)

    def set_faults(self, system: str, config: dict) -> None:
        self._server(system).set_faults(config)

    def clear_faults(self, system: str) -> None:
        self._server(system).clear_faults()

    def set_pacing(self, pacing, systems=None) -> dict:
        """Set the pacing of `systems` (default: all running) from a profile name or a dict (a
        cluster-wide one keyed by system, or one system's); counters reset. Returns the stats."""
        return {s: self._server(s).set_pacing(system_config(pacing, s)) for s in (systems or self.servers)}

    def pacing_stats(self, system: str) -> dict:
        """Config and counters of `system`'s pacing (as GET /__sim/pacing)."""
        return self._server(system).pacing_stats()

    def truth(self, system: str, obj: str) -> dict:
        srv = self.servers.get(system) or server_class(system)(self.world, self.credentials)
        with self.world.lock:
            return copy.deepcopy(srv.truth(obj))

    def ledger(self) -> list[dict]:
        with self.world.lock:
            return copy.deepcopy(self.world.ledger)

    def cases(self) -> dict:
        with self.world.lock:
            return self.world.current_cases()

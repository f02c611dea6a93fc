"""Per-server pacing: a latency model and the rate limits each system documents.

A server holds one `Pacing` (swapped whole when the config changes, so counters reset and no
request ever sees half a config). On arrival, `admit(path)` records the request in every window
limit whose paths match and says which limit, if any, refuses it; the server answers that refusal
the way the system does (`SystemServer.rate_limit_error`). Before writing an answer the server
sleeps `delay(records)` seconds, counted from the request's arrival.

Config of one system (the normalized form `GET /__sim/pacing` reports):

    {"profile": "documented",            # base the other keys override ("off" when omitted)
     "latency_ms": 200, "per_record_ms": 0.25,
     "limits": {"rate": {"requests": 20, "seconds": 1},            # rolling window
                "search": {"requests": 4, "seconds": 1, "paths": "/search$"},  # regex, searched
                "concurrency": {"concurrent": 15}}}                # requests in flight

A limit may also be written "20/1"; `null` removes a base profile's limit. A cluster-wide config
is a profile name, or a dict keyed by system name (values: a profile name or a system config)
with an optional "profile" default for every system; `system_config()` accepts either form.

Windows are exact rolling windows: each limit keeps the arrival times of the last N requests
(refused ones included: they count toward the window, as the plan of issue 10 fixes); a request
is refused when N requests arrived within the last `seconds`. Memory is O(N), time O(1).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

PROFILES = ("off", "documented", "realistic")
SYSTEMS = ("salesforce", "hubspot", "kantata", "workday", "netsuite")

# Each system's documented limits (where the figure comes from: docs/simulators.md, "Latency and
# rate limits").
DOCUMENTED: dict[str, dict] = {
    # HubSpot private apps: 190 requests per rolling 10 s (all endpoints); CRM search: about
    # 4 requests/s per token, on top of the burst limit.
    "hubspot": {"burst": {"requests": 190, "seconds": 10},
                "search": {"requests": 4, "seconds": 1, "paths": r"/search\Z"}},
    # Kantata publishes no figure (unverified): ours, 20 requests/s per token.
    "kantata": {"rate": {"requests": 20, "seconds": 1}},
    # Salesforce: API requests per rolling 24 h (Developer/Enterprise base allowance).
    "salesforce": {"daily": {"requests": 100_000, "seconds": 86_400}},
    # NetSuite: concurrent requests per account (base tier, no SuiteCloud Plus licence).
    "netsuite": {"concurrency": {"concurrent": 15}},
    "workday": {},
}
# Realistic latency per system: (ms per request, ms per record in the answer).
REALISTIC_LATENCY: dict[str, tuple[float, float]] = {
    "kantata": (200.0, 0.25), "salesforce": (150.0, 0.02), "hubspot": (120.0, 0.1),
    "netsuite": (200.0, 0.1), "workday": (400.0, 0.05),
}
SYSTEM_KEYS = {"profile", "latency_ms", "per_record_ms", "limits"}
LIMIT_KEYS = {"requests", "seconds", "paths", "concurrent"}


class PacingConfigError(ValueError):
    """A bad pacing config; the message names the offending key."""


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int = 0          # window limits: requests per `seconds`
    seconds: float = 0.0
    paths: str | None = None   # regex searched in the path; None: every path
    concurrent: int = 0        # concurrency limits: requests in flight

    def spec(self) -> dict:
        if self.concurrent:
            return {"concurrent": self.concurrent}
        out = {"requests": self.requests, "seconds": self.seconds}
        if self.paths:
            out["paths"] = self.paths
        return out


@dataclass(frozen=True)
class Refusal:
    """The limit that refused a request: `reset` is seconds until the window admits one again."""

    limit: Limit
    count: int
    reset: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset))


class Admission:
    """What `admit` saw for one request: the refusal (or None) and (limit, count in window) pairs."""

    __slots__ = ("refused", "states")

    def __init__(self, refused: Refusal | None, states: tuple):
        self.refused, self.states = refused, states

    def count(self, name: str) -> tuple[Limit, int] | None:
        for lim, n in self.states:
            if lim.name == name:
                return lim, n
        return None

    def tightest(self) -> tuple[Limit, int] | None:
        """The refusing limit, else the matched window limit with the fewest requests left."""
        if self.refused:
            return self.refused.limit, self.refused.count
        return min(self.states, key=lambda s: s[0].requests - s[1], default=None)


NO_LIMITS = Admission(None, ())


def _limit(system: str, name: str, spec) -> Limit:
    where = f"{system}.limits.{name}"
    if isinstance(spec, str):
        n, _, secs = spec.partition("/")
        try:
            spec = {"requests": int(n), "seconds": float(secs or 1)}
        except ValueError:
            raise PacingConfigError(f"{where}: expected 'N/SECONDS', got {spec!r}") from None
    if not isinstance(spec, dict):
        raise PacingConfigError(f"{where}: expected a dict, 'N/SECONDS' or null, got {spec!r}")
    unknown = set(spec) - LIMIT_KEYS
    if unknown:
        raise PacingConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {sorted(LIMIT_KEYS)})")

    def number(key, kind):
        v = spec[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 or (kind is int and v != int(v)):
            raise PacingConfigError(f"{where}.{key}: expected a positive {kind.__name__}, got {v!r}")
        return kind(v)

    if "concurrent" in spec:
        if set(spec) != {"concurrent"}:
            raise PacingConfigError(f"{where}.concurrent: a concurrency limit takes no other key")
        return Limit(name, concurrent=number("concurrent", int))
    for key in ("requests", "seconds"):
        if key not in spec:
            raise PacingConfigError(f"{where}.{key}: required (or 'concurrent')")
    paths = spec.get("paths")
    if paths is not None:
        try:
            re.compile(paths)
        except (re.error, TypeError) as e:
            raise PacingConfigError(f"{where}.paths: not a regex: {e}") from None
    return Limit(name, number("requests", int), number("seconds", float), paths or None)


def _base(system: str, profile) -> dict:
    if profile not in PROFILES:
        raise PacingConfigError(f"{system}.profile: expected one of {list(PROFILES)}, got {profile!r}")
    latency, per_record = REALISTIC_LATENCY.get(system, (0.0, 0.0)) if profile == "realistic" else (0.0, 0.0)
    limits = {} if profile == "off" else {k: dict(v) for k, v in DOCUMENTED.get(system, {}).items()}
    return {"profile": profile, "latency_ms": latency, "per_record_ms": per_record, "limits": limits}


def system_config(pacing, system: str) -> dict:
    """The normalized config of `system` from a profile name, a cluster-wide dict or a system dict."""
    if pacing is None:
        pacing = "off"
    if isinstance(pacing, str):
        return _base(system, pacing)
    if not isinstance(pacing, dict):
        raise PacingConfigError(f"pacing: expected a profile name or a dict, got {pacing!r}")
    if set(pacing) - {"profile"} and set(pacing) <= set(SYSTEMS) | {"profile"}:  # cluster-wide form
        default = pacing.get("profile", "off")
        own = pacing.get(system, default)
        if isinstance(own, dict):
            own = {"profile": default, **own}
        return system_config(own, system)
    unknown = set(pacing) - SYSTEM_KEYS
    if unknown:
        raise PacingConfigError(f"unknown pacing key {sorted(unknown)[0]!r} (known: {sorted(SYSTEM_KEYS)} "
                                f"or system names {list(SYSTEMS)})")
    cfg = _base(system, pacing.get("profile", "off"))
    for key in ("latency_ms", "per_record_ms"):
        if key in pacing:
            v = pacing[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise PacingConfigError(f"{system}.{key}: expected a number >= 0, got {v!r}")
            cfg[key] = float(v)
    limits = pacing.get("limits", {})
    if not isinstance(limits, dict):
        raise PacingConfigError(f"{system}.limits: expected a dict of named limits, got {limits!r}")
    for name, spec in limits.items():
        if spec is None:
            cfg["limits"].pop(name, None)
        else:
            cfg["limits"][name] = _limit(system, name, spec).spec()
    return cfg


class _Window:
    __slots__ = ("limit", "log", "rx")

    def __init__(self, limit: Limit):
        self.limit = limit
        self.log: deque = deque(maxlen=limit.requests)  # arrival times of the last N requests
        self.rx = re.compile(limit.paths) if limit.paths else None


class Pacing:
    """Pacing state of one server: config, rolling windows, counters."""

    def __init__(self, system: str, pacing=None):
        self.system = system
        self.config = system_config(pacing, system)
        self.latency = self.config["latency_ms"] / 1000.0
        self.per_record = self.config["per_record_ms"] / 1000.0
        self.limits = [_limit(system, n, s) for n, s in self.config["limits"].items()]
        self._windows = [_Window(lim) for lim in self.limits if not lim.concurrent]
        self.concurrency = next((lim for lim in self.limits if lim.concurrent), None)
        self._lock = threading.Lock()
        # counters: requests and max_in_flight are updated by the server under its in-flight lock
        self.requests = 0
        self.max_in_flight = 0
        self.refused: dict[str, int] = {}
        self.slept = 0.0

    @property
    def sleeps(self) -> bool:
        return bool(self.latency or self.per_record)

    def admit(self, path: str) -> Admission:
        """Record a request arriving now on `path`; the refusal of the first full window, if any."""
        if not self._windows:
            return NO_LIMITS
        refused, states = None, []
        with self._lock:
            now = time.monotonic()
            for w in self._windows:
                if w.rx is not None and not w.rx.search(path):
                    continue
                log, horizon = w.log, now - w.limit.seconds
                while log and log[0] <= horizon:
                    log.popleft()
                if len(log) >= w.limit.requests and refused is None:
                    refused = Refusal(w.limit, len(log), log[0] - horizon)
                log.append(now)  # refused requests count toward the window too
                states.append((w.limit, len(log)))
            if refused is not None:
                self.refused[refused.limit.name] = self.refused.get(refused.limit.name, 0) + 1
        return Admission(refused, tuple(states))

    def refuse_concurrent(self, name: str | None = None) -> None:
        """Count a refusal by the concurrency limit (checked by the server, which knows in-flight)."""
        name = name or (self.concurrency.name if self.concurrency else "concurrency")
        with self._lock:
            self.refused[name] = self.refused.get(name, 0) + 1

    def delay(self, records: int) -> float:
        return self.latency + self.per_record * records

    def add_slept(self, seconds: float) -> None:
        with self._lock:
            self.slept += seconds

    def snapshot(self, in_flight: int = 0) -> dict:
        with self._lock:
            now = time.monotonic()
            windows = {w.limit.name: sum(1 for t in w.log if t > now - w.limit.seconds) for w in self._windows}
            refused = dict(self.refused)
            slept = self.slept
        return {"system": self.system, "config": self.config,
                "counters": {"requests": self.requests, "refused": refused,
                             "refused_total": sum(refused.values()), "max_in_flight": self.max_in_flight,
                             "in_flight": in_flight, "in_window": windows, "slept_seconds": round(slept, 3)}}

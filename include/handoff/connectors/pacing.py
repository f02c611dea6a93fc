"""Request-rate allowances per system, shared by every client of every process.

A SaaS account allows so many requests per window (HubSpot: 190 per rolling 10 s, and 4 a second
for search; Kantata: a request rate). Going over costs a refusal and a wait, and counts against
the same window again; a client that spaces its own requests never sees one. Every request of
every client passes its system's `Pacer` first: for each allowance the request falls under, it
reserves the next free send time (GCRA: one "next free time" per allowance, pushed forward by
one interval per request) and sleeps until then.

Where the reservations live decides who shares them. `LocalStore` (the default) is shared by the
clients of one process; `PostgresStore` keeps them in `ops.api_allowance` on the warehouse, so a
backfill's workers, the minute's scheduled run and the reverse sync, in any process or host,
together stay under the limit (`SystemClient.share_allowance(connect)`; the Airflow tasks do).

The interval is the documented window divided by `HEADROOM` x its requests: evenly spaced requests
never put more than `0.9 N + 1` into any window of the system's length, so network jitter cannot
tip a paced client over. Allowances come from `DOCUMENTED_RATES`, overridable per connection with
the extra field `rate_limit`: `off` (an account without one, or a simulator serving none),
`N/S` (the system's main allowance: N requests per S seconds) or `name=N/S,name=N/S`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)

SETTING = "rate_limit"
HEADROOM = 0.9
MAX_LATE_TURNS = 5  # a request gives up at most this many turns it woke too late for, then goes


@dataclass(frozen=True)
class Allowance:
    """`requests` per `seconds`, for requests whose path matches `paths` (None: every request)."""

    name: str
    requests: int
    seconds: float
    paths: str | None = None

    def interval(self) -> float:
        return self.seconds / (self.requests * HEADROOM)

    def covers(self, path: str) -> bool:
        return self.paths is None or re.search(self.paths, path.split("?", 1)[0]) is not None


# What each system documents (see ../docs/simulators.md "Latency and rate limits" for sources).
# Salesforce counts requests per 24 h (a budget, not a rate: `Sforce-Limit-Info`); NetSuite limits
# requests in flight (`handoff.connectors.limiter`); Workday publishes neither.
DOCUMENTED_RATES: dict[str, tuple[Allowance, ...]] = {
    "hubspot": (Allowance("burst", 190, 10.0), Allowance("search", 4, 1.0, r"/search$")),
    "kantata": (Allowance("rate", 20, 1.0),),  # unverified: Kantata publishes no figure; the simulator's
}


class RateLimitConfigError(ValueError):
    """A `rate_limit` connection setting that does not parse (names the connection and the value)."""


def parse_rate_limit(value: str | None, documented: tuple[Allowance, ...], where: str = "") -> tuple[Allowance, ...]:
    """The allowances a connection's `rate_limit` setting gives (None: the documented ones)."""
    if value is None or str(value).strip() == "":
        return documented
    text = str(value).strip().lower()
    if text in ("off", "none", "0", "unlimited"):
        return ()
    out = {a.name: a for a in documented}
    first = documented[0].name if documented else "rate"
    for part in text.split(","):
        name, sep, spec = part.strip().rpartition("=")
        name = name.strip() if sep else first
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", spec)
        if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
            raise RateLimitConfigError(f"{where}{SETTING} must be 'off', 'N/S' or 'name=N/S,...' "
                                       f"(N requests per S seconds), got {value!r}")
        requests_, seconds = int(m.group(1)), float(m.group(2))
        out[name] = replace(out[name], requests=requests_, seconds=seconds) if name in out \
            else Allowance(name, requests_, seconds)
    return tuple(out.values())


class LocalStore:
    """Reservations shared by the clients of this process."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def reserve(self, system: str, allowance: str, interval: float) -> float:
        """Reserve the next send slot; returns how many seconds to wait for it (<= 0: now)."""
        now = time.monotonic()
        with self._lock:
            at = max(self._next.get((system, allowance), now), now)
            self._next[(system, allowance)] = at + interval
        return at - now


PROCESS_STORE = LocalStore()


class PostgresStore:
    """Reservations in `ops.api_allowance` (migration 0005), shared by every process on the
    warehouse; the database's clock orders everyone. One autocommit connection, opened on first
    use; while the table is missing (an unmigrated warehouse) reservations fall back to this process."""

    SQL = """INSERT INTO ops.api_allowance AS a (system, allowance, next_at)
             VALUES (%(s)s, %(a)s, clock_timestamp() + make_interval(secs => %(i)s))
             ON CONFLICT (system, allowance) DO UPDATE
             SET next_at = GREATEST(a.next_at, clock_timestamp()) + make_interval(secs => %(i)s)
             RETURNING EXTRACT(EPOCH FROM (next_at - clock_timestamp()))::float8 - %(i)s"""

    def __init__(self, connect: Callable[[], object]):
        self._connect, self._conn, self._lock = connect, None, threading.Lock()
        self.fell_back = 0  # reservations made in this process because the table was missing
        self.closed = False  # after close(): reservations in this process, never a new connection

    def reserve(self, system: str, allowance: str, interval: float) -> float:
        from psycopg.errors import UndefinedTable

        with self._lock:
            if self.closed:  # a straggling thread of a client already closed
                return PROCESS_STORE.reserve(system, allowance, interval)
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                    self._conn.autocommit = True
                return self._conn.execute(self.SQL, {"s": system, "a": allowance, "i": interval}).fetchone()[0]
            except UndefinedTable:  # not migrated yet (the task migrates first thing): this process only
                if not self.fell_back:
                    log.warning("ops.api_allowance is missing (warehouse not migrated yet): pacing %s in this "
                                "process only until it exists", system)
                self.fell_back += 1
        return PROCESS_STORE.reserve(system, allowance, interval)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Pacer:
    """Spaces one system's requests under its allowances, across every client sharing `store`."""

    def __init__(self, system: str, allowances: tuple[Allowance, ...], store=PROCESS_STORE):
        self.system, self.allowances, self.store = system, allowances, store
        self.waited = 0.0  # seconds this pacer slept for the allowance (the run log can report it)
        self.late_turns = 0  # turns given up because this thread woke too late to use them

    def before_request(self, path: str) -> None:
        """Wait for this request's turn. A thread that wakes later than one interval after its turn
        (a busy interpreter or machine) takes a new turn instead of sending late: sent late, it
        would land next to the requests scheduled after it and could tip a window over the limit."""
        covering = [a for a in self.allowances if a.covers(path)]
        if not covering:
            return
        slack = min(a.interval() for a in covering)
        for _ in range(MAX_LATE_TURNS):
            wait = max(self.store.reserve(self.system, a.name, a.interval()) for a in covering)
            due = time.monotonic() + max(wait, 0.0)
            if wait > 0:
                self.waited += wait
                time.sleep(wait)
            if time.monotonic() - due <= slack:
                return
            self.late_turns += 1

    def describe(self) -> str:
        return ", ".join(f"{a.name} {a.requests}/{a.seconds:g}s" for a in self.allowances) or "unpaced"

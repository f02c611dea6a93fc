"""Concurrency slots per system, shared by every process that talks to it.

A SaaS account allows a number of requests in flight at once (NetSuite: 15 on the base tier;
beyond it the system answers 429). Every task, DAG or script that talks to the system takes a
slot first; slots are PostgreSQL session advisory locks on the warehouse, so they are shared by
every worker process and host, and a killed process gives its slots back when its connection
drops (no lease to expire, nothing to clean up). A slot is meant to be held by one worker thread
for its whole life (it sends one request at a time), not taken per request.

N is the system's documented limit (`DOCUMENTED_LIMITS`), overridable per connection with the
extra field `concurrency_limit` (a smaller account, or a share kept free for other integrations).
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from collections.abc import Callable
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Requests in flight the system allows per account (public documentation).
DOCUMENTED_LIMITS = {"netsuite": 15, "salesforce": 25, "hubspot": 10, "kantata": 10, "workday": 5}
SETTING = "concurrency_limit"


def limit_of(client) -> int:
    """The slot count for `client`'s system: its connection's `concurrency_limit`, else the
    documented limit (1 for a system without one)."""
    extra = client.connection.extra_dejson or {}
    value = extra.get(SETTING, extra.get(f"extra__{client.hook.conn_type}__{SETTING}"))
    if value not in (None, ""):
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{client.conn_id}: {SETTING} must be a positive integer, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{client.conn_id}: {SETTING} must be a positive integer, got {n}")
        return n
    return DOCUMENTED_LIMITS.get(client.system, 1)


def _class_id(system: str) -> int:
    """The advisory lock class of a system's slots (a positive 31-bit hash of its name)."""
    return zlib.crc32(f"handoff:limiter:{system}".encode()) & 0x7FFFFFFF


class Slot:
    """One held slot: the session lock on `conn` (autocommit) until `release` or the connection closes."""

    def __init__(self, conn, system: str, number: int):
        self.conn, self.system, self.number = conn, system, number

    def release(self) -> None:
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_class_id(self.system), self.number))
        except Exception:  # the connection is gone: so is the lock
            pass


class Limiter:
    """`limit` slots for `system` on the warehouse; `connect` opens an autocommit connection."""

    def __init__(self, system: str, limit: int, connect: Callable[[], object]):
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.system, self.limit, self._connect = system, limit, connect

    def try_acquire(self, conn) -> Slot | None:
        """Take any free slot on `conn` (autocommit), or None when all are held: one statement
        that tries the slots in turn from a random one (spreading many workers' probes) and stops
        at the first it gets, so a waiting worker costs one statement per poll, not `limit`."""
        start = random.randrange(self.limit)
        row = conn.execute(
            "SELECT n FROM (SELECT (%(start)s + i) %% %(limit)s AS n FROM generate_series(0, %(limit)s - 1) AS i) AS s "
            "WHERE pg_try_advisory_lock(%(cls)s, n) LIMIT 1",
            {"start": start, "limit": self.limit, "cls": _class_id(self.system)}).fetchone()
        return None if row is None else Slot(conn, self.system, row[0])

    def acquire(self, conn, wait: float = 300.0, poll: float = 0.2) -> Slot | None:
        """Take a slot, waiting up to `wait` seconds for one to free (a burst queues); None if none did."""
        deadline = time.monotonic() + wait
        while True:
            slot = self.try_acquire(conn)
            if slot is not None or time.monotonic() >= deadline:
                return slot
            time.sleep(poll * (0.5 + random.random()))

    @contextmanager
    def slot(self, wait: float = 300.0):
        """A slot on a connection of its own (yields None if none freed within `wait`)."""
        conn = self._connect()
        try:
            conn.autocommit = True
            held = self.acquire(conn, wait)
            try:
                yield held
            finally:
                if held is not None:
                    held.release()
        finally:
            conn.close()

    def held(self, conn) -> int:
        """Slots of this system held right now, by any process."""
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND classid = %s::oid", (_class_id(self.system),)).fetchone()[0]

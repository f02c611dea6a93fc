"""Windowed loads: first loads, full refreshes and large catch-ups read as concurrent windows.

One page at a time at real latency (250 ms a page, 200 records) reads 800 records a second;
the systems allow several times that. A windowed load splits the source's history by
modification time into windows of about `Stream.window_records` records, sized by bisecting with
the cheap count the API gives (`Stream.count`), and reads them concurrently: each window is a
verified walk (or a Bulk job) of its own, on a client of its own, holding one of the system's
concurrency slots (`handoff.connectors.limiter`) while it reads; every request also passes the
system's shared rate allowance (`handoff.connectors.pacing`). Pages of all windows feed the one
write pipeline.

Exactly once, under kill -9: the plan (window bounds) is written to the stream's state before
any window is read, and a window is marked done in the transaction that commits its last
records. The cursor moves only over the contiguous prefix of done windows (to the end of the
last one), never per batch, so records of a window may arrive in any order (Bulk API results)
and a crash loses only unfinished windows, which the next run reads again (the upsert makes
re-reading harmless). Records modified during the load move past the plan's end and are read by
the incremental tail that follows the windows.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handoff.connectors.http import SystemClient
from handoff.extract.state import StreamState, advance_state
from handoff.extract.stream import Page, Stream, Window, parse_ts

log = logging.getLogger(__name__)
STATE_KEY = "windowed"


@dataclass
class Plan:
    """The windows of one windowed load ([start, end) by modification time; start None = -inf)."""

    windows: list[tuple[datetime | None, datetime]]
    done: set[int] = field(default_factory=set)
    started_at: str = ""
    sizes: list[int] = field(default_factory=list)  # estimated records per window (empty: unknown)

    def to_json(self) -> dict:
        return {"windows": [[s.isoformat() if s else None, e.isoformat()] for s, e in self.windows],
                "done": sorted(self.done), "started_at": self.started_at, "sizes": self.sizes}

    @classmethod
    def from_json(cls, d: dict) -> Plan:
        return cls([(parse_ts(s), parse_ts(e)) for s, e in d["windows"]], set(d.get("done") or ()),
                   d.get("started_at", ""), list(d.get("sizes") or ()))

    @property
    def todo(self) -> list[int]:
        """Unfinished windows, largest first: a window holding a big tie group (thousands of records
        in one second, read one page after another) started last would end the load alone."""
        todo = [i for i in range(len(self.windows)) if i not in self.done]
        if len(self.sizes) == len(self.windows):
            todo.sort(key=lambda i: -self.sizes[i])
        return todo

    def prefix_end(self) -> datetime | None:
        """The end of the contiguous prefix of done windows (None: the first is not done)."""
        end = None
        for i, (_, e) in enumerate(self.windows):
            if i not in self.done:
                break
            end = e
        return end


def window_size(total: int, target: int, workers: int, minimum: int = 1) -> int:
    """Records per window: the stream's target, smaller when that leaves fewer than three windows
    per worker (the last windows of a load run with fewer workers busy: small ones end it sooner),
    but not under the stream's `minimum` (`Stream.min_window`)."""
    return max(1, minimum, min(target, -(-total // (3 * max(1, workers)))))


def plan_windows(stream: Stream, client: SystemClient, since: datetime | None, oldest: datetime, newest: datetime,
                 total: int, target: int, workers: int = 1, slots: Callable[[], object] | None = None) -> Plan:
    """Windows of about `target` records covering [since, newest + resolution) (since None: from
    the beginning). Cut at quantiles when the stream can say the modification time at an offset
    (`Stream.modified_at_offset`: one request per cut, sent by `workers` clients at once);
    otherwise by bisecting time with counts (about two requests per window)."""
    started = datetime.now(UTC).isoformat()
    k = -(-total // target)
    if k < 2:
        return Plan([(since, newest + stream.resolution)], started_at=started, sizes=[total])
    cuts = _quantile_cuts(stream, client, since, total, k, workers, slots)
    sizes: list[int] = []
    if cuts is None:
        windows = _bisect(stream, client, oldest, newest, target)
    else:
        edges = [c for c in sorted(set(cuts)) if c > oldest and c <= newest]
        bounds = [oldest, *edges, newest + stream.resolution]
        windows = list(zip(bounds[:-1], bounds[1:], strict=True))
        # A cut hit by m quantiles starts a window of about m quantile steps (a tie group there).
        step = total / k
        sizes = [round(step * (1 if i == 0 else max(1, cuts.count(a)))) for i, (a, _) in enumerate(windows)]
    windows[0] = (since, windows[0][1])  # nothing older than the oldest, but never leave a gap
    log.info("%s: %d records in %d windows of about %d (%s, newest %s)", stream.table, total, len(windows),
             target, "cut at quantiles" if cuts is not None else "bisected by counts", newest)
    return Plan(windows, started_at=started, sizes=sizes)


def _quantile_cuts(stream: Stream, client: SystemClient, since, total: int, k: int, workers: int,
                   slots: Callable[[], object] | None = None) -> list[datetime] | None:
    """The modification times at the k-1 quantile offsets: probe 0 on `client` (the run's slot),
    the rest by up to `workers` threads, each beyond the first holding a concurrency slot of its own
    (`slots`) while it probes, so planning never has more requests in flight than the system allows."""
    offsets = [round(i * total / k) for i in range(1, k)]
    first = stream.modified_at_offset(client, since, offsets[0])
    if first is None:
        return None
    pending: queue.Queue = queue.Queue()
    for o in offsets[1:]:
        pending.put(o)
    found: list[datetime] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def probe(n: int) -> None:
        c = None
        try:
            with (slots() if slots is not None and n > 0 else nullcontext()) as slot:
                if slots is not None and n > 0 and slot is None:
                    return  # every slot busy: the other threads probe on
                c = client.clone()
                while not errors:
                    try:
                        o = pending.get_nowait()
                    except queue.Empty:
                        return
                    t = stream.modified_at_offset(c, since, o)
                    if t is not None:
                        with lock:
                            found.append(t)
        except BaseException as exc:  # re-raised by the planner
            errors.append(exc)
        finally:
            if c is not None:
                with lock:
                    client.requests += c.requests
                    client.retries += c.retries
                c.close()

    threads = [threading.Thread(target=probe, args=(n,), name=f"extract-plan-{n}", daemon=True)
               for n in range(max(1, min(workers, len(offsets) - 1)))] if len(offsets) > 1 else []
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [first, *found]


def _bisect(stream: Stream, client: SystemClient, oldest: datetime, newest: datetime,
            target: int) -> list[tuple[datetime | None, datetime]]:
    res = stream.resolution
    end = newest + res
    total = stream.count(client, oldest, end) or 0
    spans: list[tuple[datetime, datetime, int]] = []
    stack = [(oldest, end, total)]
    while stack:
        a, b, n = stack.pop()
        if n <= target or b - a <= res:
            spans.append((a, b, n))
            continue
        mid = a + _floor((b - a) / 2, res)
        if mid <= a:
            mid = a + res
        left = stream.count(client, a, mid)
        left = n if left is None else min(left, n)
        stack.append((mid, b, n - left))
        stack.append((a, mid, left))
    spans.sort(key=lambda t: t[0])
    merged: list[list] = []
    for a, b, n in spans:  # neighbours that fit together become one window (empty stretches vanish)
        if merged and merged[-1][2] + n <= target:
            merged[-1][1], merged[-1][2] = b, merged[-1][2] + n
        else:
            merged.append([a, b, n])
    return [(a, b) for a, b, _ in merged]


def _floor(delta: timedelta, res: timedelta) -> timedelta:
    return res * (delta // res)


class WindowedPages:
    """Pages of the plan's unfinished windows, read by `workers` threads, each on its own client;
    the first reads on the run's own concurrency slot, the others (when `slots` is given) each take
    a slot of the system while they read a window.
    Yields every page, then an empty page with `finishes=<window index>` once a window's pages
    have all been yielded; the consumer must commit them before marking the window done."""

    def __init__(self, stream: Stream, client: SystemClient, plan: Plan, state: StreamState, workers: int,
                 slots: Callable[[], object] | None = None):
        self.stream, self.client, self.plan, self.state = stream, client, plan, state
        self.workers = max(1, min(workers, len(plan.todo)))
        self.slots = slots
        self.requests = 0
        self.retries = 0
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Page]:
        todo: queue.Queue = queue.Queue()
        for i in self.plan.todo:
            todo.put(i)
        out: queue.Queue = queue.Queue(maxsize=2 * self.workers)
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        def work(n: int) -> None:
            # Worker 0 reads on the run's own slot, so the load always progresses; the others take
            # a free slot per window and stop when none frees in time (the rest goes on without them).
            client = None
            try:
                client = self.client.clone()
                while not stop.is_set():
                    try:
                        i = todo.get_nowait()
                    except queue.Empty:
                        break
                    start, end = self.plan.windows[i]
                    with (self.slots() if self.slots and n > 0 else nullcontext()) as slot:
                        if self.slots is not None and n > 0 and slot is None:
                            log.info("%s: window worker %d found every slot of %s busy: stopping", self.stream.table,
                                     n, client.system)
                            todo.put(i)
                            break
                        w = Window("window", start, end, advance_cursor=False,
                                   closed=i < len(self.plan.windows) - 1)
                        t = time.monotonic()
                        pages = 0
                        for page in self.stream.pages(client, w, self.state):
                            pages += 1
                            if not put(page):
                                return
                    log.info("%s: window %d/%d %s read: %d pages in %.1f s", self.stream.table, i + 1,
                             len(self.plan.windows), w.describe(), pages, time.monotonic() - t)
                    if not put(Page([], f"window {i} done", finishes=str(i))):
                        return
                put(done)
            except BaseException as exc:  # forwarded to the consumer, which stops the others
                put(exc)
            finally:
                if client is not None:
                    with self._lock:
                        self.requests += client.requests
                        self.retries += client.retries
                    client.close()

        threads = [threading.Thread(target=work, args=(n,), name=f"extract-window-{n}", daemon=True)
                   for n in range(self.workers)]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                item = out.get()
                if item is done:
                    running -= 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)


def mark_done(conn, stream: Stream, batch_id: str, plan: Plan, finished: list[str]) -> datetime | None:
    """In a batch's transaction: mark `finished` windows done; move the cursor to the end of the
    contiguous done prefix (minus one resolution: the newest time a record in it can have).
    Returns the cursor set (None: not moved)."""
    plan.done.update(int(k) for k in finished)
    end = plan.prefix_end()
    cursor = end - stream.resolution if end is not None else None
    advance_state(conn, stream.source, stream.name, batch_id, cursor, {STATE_KEY: plan.to_json()})
    return cursor


def save_plan(conn, stream: Stream, batch_id: str, plan: Plan | None) -> None:
    """Record the plan before any window is read (None: the windowed load is over)."""
    with conn.transaction():
        advance_state(conn, stream.source, stream.name, batch_id, None,
                      {STATE_KEY: plan.to_json() if plan is not None else None})

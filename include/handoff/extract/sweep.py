"""Hard deletes of a system without a delete feed (Kantata), found from counts, not a full listing.

A full id listing of 1M time entries is 5,000 requests (about 20 minutes at 250 ms a page), longer
than the 15-minute reconcile cadence. What the API gives cheaply is a count: `meta.count` of the
records created in a range, one request. Creation time never changes, so a range of creation
time holds the same records in the system and in raw unless one of them was deleted or raw lacks
one. A sweep (`sweep_deletes`) therefore

1. snapshots raw's live rows created before the horizon (id, creation time) into a session table
   indexed by creation time: one scan of raw; every count and anti-join below reads the snapshot
   (raw counts come from its per-second histogram, held in two arrays, without a query each);
2. lists in full the recent work (`recent`, every sweep) and one rotating slice of older history
   (`slices` per pass: at a 15-minute cadence, 96 slices list the whole history about once a day;
   the position is `cursor_extra.rotation`). This is the backstop for what counts cannot see: a
   delete balanced by a record raw lacks in the same range;
3. compares the system's count of the rest (created before the recent work) with raw's; equal
   counts mean nothing was deleted there; a range whose counts differ is split at raw's median
   creation second (one more count request: the other half's count is the difference) until it
   holds at most `leaf` records, or its differences are dense (one per `leaf` records or more:
   listing it at once costs less than narrowing around each), then listed;
4. anti-joins each listed range with the snapshot in Postgres: a live raw id the listing lacks is
   *missing* (confirmed one by one by the stream's `confirm_missing`, `only=`, before it is called
   gone), a listed id raw does not hold live is *lacking* (logged as a warning with its range;
   never deleted, never loaded here: the records are for the next full refresh or backfill).

Only records created before the horizon (the cursor minus the look-back) are compared: rows
created later may still be landing. Soft-deleted records that the stream's listing includes
(Kantata stories with `show_deleted`) are left out of the sweep's counts and listings
(`soft_delete_flag`), so both sides count live records only; a soft-deleted story raw still holds
live is found by the listing, and `confirm_missing` (which asks with the stream's own flags) finds
it and keeps it.

The sweep marks nothing itself: it returns the confirmed ids (`SweepResult.gone`), after the delete
guard the caller passes accepted them, and the runner applies them as tombstones. The rotation
moves only after the guard passed, so a refused sweep lists the same slice next time.
"""

from __future__ import annotations

import logging
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handoff.extract.load import RawLoader
from handoff.extract.state import StreamState, advance_state
from handoff.extract.stream import Stream, parse_ts

log = logging.getLogger(__name__)

RECENT = timedelta(days=1)  # listed in full by every sweep
SLICES = 96  # older history is listed in this many slices, one a sweep (a day at 15 minutes)
LEAF = 400  # a range whose counts differ is listed once it holds at most this many (two pages)

Range = tuple[datetime | None, datetime]  # creation time [start, end); start None: from the beginning


@dataclass
class SweepResult:
    requests: int = 0  # API requests the sweep spent (counts, listings, confirmations)
    counts: int = 0  # of which count requests
    held: int = 0  # live raw rows compared (created before the horizon)
    listed: list[Range] = field(default_factory=list)  # ranges listed in full
    ids_listed: int = 0
    missing: list[str] = field(default_factory=list)  # raw ids a listing lacked (before confirmation)
    gone: list[str] = field(default_factory=list)  # confirmed no longer in the system: mark these deleted
    lacking: list[str] = field(default_factory=list)  # listed by the system, not live in raw (reported)
    lacking_ranges: list[Range] = field(default_factory=list)  # ranges where the system counted more than raw
    rotation: Range | None = None  # the slice of older history this sweep listed
    wrapped: bool = False  # ... the last of a pass: the next sweep starts again from the oldest

    @property
    def deletes(self) -> int:
        return len(self.gone)

    def describe(self) -> str:
        return (f"{self.requests} requests ({self.counts} counts), {len(self.listed)} ranges listed "
                f"({self.ids_listed} ids), {len(self.missing)} missing, {len(self.gone)} confirmed deleted, "
                f"{len(self.lacking)} lacking in raw; {self.held} raw rows compared")


def show(r: Range) -> str:
    lo, hi = r
    return f"[{lo.isoformat() if lo else '-inf'}, {hi.isoformat()})"


def _second(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(microsecond=0)


def _epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class RawCounts:
    """Raw's rows per creation second (the snapshot's histogram): counts of any range without a query."""

    def __init__(self, seconds: array, upto: array):
        self.seconds, self.upto = seconds, upto

    def _before(self, ts: datetime | None) -> int:
        if ts is None:
            return 0
        i = bisect_left(self.seconds, _epoch(ts))
        return self.upto[i - 1] if i else 0

    def count(self, lo: datetime | None, hi: datetime) -> int:
        return self._before(hi) - self._before(lo)

    def end_after(self, lo: datetime | None, n: int) -> datetime | None:
        """The end of the shortest range from `lo` holding at least `n` rows (whole seconds);
        None: fewer than `n` rows from `lo` on."""
        j = bisect_left(self.upto, self._before(lo) + n)
        return _at(self.seconds[j] + 1) if j < len(self.upto) else None

    def split(self, lo: datetime | None, hi: datetime) -> datetime | None:
        """A second strictly inside (lo, hi) with about half of the range's raw rows before it;
        None when raw cannot tell (fewer than two rows, or all in one second)."""
        n = self.count(lo, hi)
        if n < 2:
            return None
        mid = self.end_after(lo, (n + 1) // 2)
        if mid is not None and mid >= hi:  # the median second is the last: put it on the right
            mid -= timedelta(seconds=1)
        if mid is None or (lo is not None and mid <= lo) or mid >= hi:
            return None
        return mid


def sweep_deletes(stream: Stream, client, loader: RawLoader, state: StreamState, horizon: datetime, *,
                  batch_id: str, guard: Callable[[int, int, str], None], recent: timedelta = RECENT,
                  slices: int = SLICES, leaf: int = LEAF) -> SweepResult:
    """Find the hard deletes among raw's live rows created before `horizon` (see the module).

    `stream` offers `created_field`, `count_created(client, since, before)`,
    `created_ids(client, since, before)` and `confirm_missing(client, ids)`; `loader` is the
    stream's `RawLoader` on the run's connection; `state` its state as the run loaded it (the
    rotation position); `guard(n, live, what)` raises when `n` deletes of `live` rows are too many
    (the runner's `_guard_deletes`). `slices=0` lists no rotating slice. Returns what was found;
    the caller marks `result.gone` deleted."""
    res = SweepResult()
    first_request = client.requests
    horizon = _second(horizon)
    recent_start = _second(horizon - recent) if recent > timedelta(0) else horizon
    res.held = loader.stage_created(stream.created_field, horizon)
    raw = RawCounts(*loader.created_histogram())

    def covered(lo: datetime | None, hi: datetime) -> bool:
        return any((a is None or (lo is not None and a <= lo)) and hi <= b for a, b in res.listed)

    def list_range(lo: datetime | None, hi: datetime) -> None:
        loader.clear_live_ids()
        for ids in stream.created_ids(client, lo, hi):
            loader.stage_live_ids(ids)
            res.ids_listed += len(ids)
        res.missing += loader.missing_created(lo, hi)
        lacking = loader.unheld_ids()
        loader.clear_live_ids()
        res.listed.append((lo, hi))
        if lacking:
            res.lacking += lacking
            log.warning("%s: raw lacks %d record(s) the system lists, created in %s: %s%s", stream.table,
                        len(lacking), show((lo, hi)), ", ".join(lacking[:20]), " ..." if len(lacking) > 20 else "")

    def count(lo: datetime | None, hi: datetime) -> int:
        res.counts += 1
        return stream.count_created(client, lo, hi)

    # 1. recent work, every sweep; 2. one slice of older history, in rotation
    if recent_start < horizon:
        list_range(recent_start, horizon)
    rotation = dict(state.extra.get("rotation") or {})
    if slices > 0:
        start = parse_ts(rotation.get("next"))
        if start is None or start >= recent_start:  # a new pass, from the oldest record
            start = None
            rotation["pass_started"] = datetime.now(UTC).isoformat()
        end = raw.end_after(start, max(1, -(-raw.count(None, recent_start) // slices)))
        if end is None or end >= recent_start:
            end, res.wrapped = recent_start, True
        if start is None or start < end:
            list_range(start, end)
            res.rotation = (start, end)
        rotation.update(next=None if res.wrapped else end.isoformat(),
                        passes=int(rotation.get("passes", 0)) + res.wrapped)

    # 3. counts over the older history; a range whose counts differ is halved until small, then listed
    stack: list[tuple[datetime | None, datetime, int]] = []
    if not covered(None, recent_start):
        stack.append((None, recent_start, count(None, recent_start)))
    while stack:
        lo, hi, api_n = stack.pop()
        if covered(lo, hi):
            continue
        raw_n = raw.count(lo, hi)
        if api_n == raw_n:
            continue
        # split while the range is large and its differences sparse (fewer than one per `leaf`
        # records): a dense one costs less listed at once than narrowed around each difference
        big = max(api_n, raw_n)
        mid = raw.split(lo, hi) if big > leaf and abs(api_n - raw_n) * leaf < big else None
        if mid is None and big > leaf and abs(api_n - raw_n) * leaf < big and lo is not None \
                and hi - lo > timedelta(seconds=1):
            mid = _second(lo + (hi - lo) / 2)  # raw holds too few rows to split by: halve the time
            mid = mid if lo < mid < hi else None
        if mid is None:
            if api_n > raw_n:
                res.lacking_ranges.append((lo, hi))
                log.warning("%s: the system counts %d records created in %s, raw holds %d: listing them",
                            stream.table, api_n, show((lo, hi)), raw_n)
            list_range(lo, hi)
            continue
        left = count(lo, mid)
        stack.append((mid, hi, max(api_n - left, 0)))
        stack.append((lo, mid, left))

    # 4. confirm what the listings lacked; the guard; the rotation moves
    missing = sorted(set(res.missing))
    res.missing = missing
    res.gone = sorted(stream.confirm_missing(client, missing)) if missing else []
    res.requests = client.requests - first_request
    guard(len(res.gone), loader.live_count(), f"a delete sweep ({len(res.listed)} ranges listed)")
    if slices > 0:
        with loader.conn.transaction():
            advance_state(loader.conn, stream.source, stream.name, batch_id, None, {"rotation": rotation})
    log.info("%s: delete sweep before %s: %s; rotation %s%s", stream.table, horizon.isoformat(), res.describe(),
             show(res.rotation) if res.rotation else "-", " (pass complete)" if res.wrapped else "")
    return res

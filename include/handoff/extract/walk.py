"""Offset paging that never skips a record while the source changes (Kantata pages, SuiteQL offsets)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

log = logging.getLogger(__name__)


class WalkError(RuntimeError):
    """An offset walk that cannot be completed safely (a cap passed by ties, or endless churn)."""


def verified_walk(
    fetch: Callable[[datetime | None, datetime | None, int], tuple[list[dict], bool, int | None]],
    newest: Callable[[datetime | None, datetime | None], datetime | None],
    start: datetime | None,
    end: datetime | None,
    page_size: int,
    modified_of: Callable[[dict], datetime | None],
    resolution: timedelta = timedelta(seconds=1),
    cap: int | None = None,
    max_restarts: int = 8,
    closed: bool = False,
) -> Iterator[tuple[list[dict], str]]:
    """Offset paging, ascending on the modification time, that never skips a record.

    `fetch(since, before, offset)` returns one page of the records modified in [since, before)
    (None: unbounded), sorted by (modified, id), whether more follow, and the query's total count;
    `newest(since, before)` returns the newest modification time in that range.

    Offset paging over a moving result set skips records: a record deleted, or updated (moved to
    the end), on a page already read shifts every later record one position up, so the record at
    the next page boundary is never served. The walk therefore
    - serves a range that fits in one response as that one response (a consistent snapshot);
    - otherwise bounds the range above by its newest modification time at walk start, so records
      written during the walk (stamped "now") cannot enter it; records can then only leave it,
      which lowers its total: a page whose total differs from the first page's is discarded and
      the walk re-anchors at the last modification time it yielded (inclusive: ties re-read, the
      upsert dedupes). Everything yielded before the change was a gap-free prefix, so the cursor
      (the highest modification time committed) never passes a record not read;
    - then reads the rest, from that bound on, the same way.
    A group of ties larger than a page at the bound is walked as [t, t + resolution), bounded the
    same way. `cap` is a per-query offset limit (HubSpot 10,000, NetSuite 100,000): past it the
    walk re-anchors at the last modification time seen.

    `closed`: [start, end) is already a range nothing can enter (its end is in the past: a windowed
    load's planned window), so it is walked as such at once, without the first page and the
    newest-record probe that bound an open range.
    """
    if closed and end is not None:
        yield from _stable_walk(fetch, start, end, page_size, modified_of, cap, max_restarts)
        return
    since, empty = start, 0
    while True:
        records, more, _ = fetch(since, end, 0)
        if not more or not records:
            yield records, f"[{_ts(since)}, {_ts(end)}) offset 0"
            return
        ceiling = newest(since, end)
        if ceiling is None:  # emptied meanwhile: read again
            empty += 1
            if empty > max_restarts:
                raise WalkError(f"[{_ts(since)}, {_ts(end)}) has more than a page but no newest record")
            continue
        if since is not None and ceiling <= since:  # more than a page of ties at `since`
            upper = ceiling + resolution
            yield from _stable_walk(fetch, since, upper if end is None else min(upper, end), page_size,
                                    modified_of, cap, max_restarts)
            since = upper
        else:
            yield from _stable_walk(fetch, since, ceiling, page_size, modified_of, cap, max_restarts)
            since = ceiling
        if end is not None and since >= end:
            return


def _ts(ts: datetime | None) -> str:
    return ts.isoformat() if ts else "-"


def _stable_walk(fetch, lo, hi, page_size, modified_of, cap, max_restarts) -> Iterator[tuple[list[dict], str]]:
    """Walk [lo, hi), a range nothing can enter: a change of its total means records left it."""
    since, offset, total0, last, stuck = lo, 0, None, None, 0
    while True:
        records, more, total = fetch(since, hi, offset)
        if total0 is None:
            total0 = total
        elif total is not None and total != total0:
            anchor = last if last is not None else since
            stuck = stuck + 1 if anchor == since else 0
            if stuck > max_restarts:
                raise WalkError(f"records keep changing at {_ts(since)}: the walk cannot make progress")
            log.info("result set changed during the walk (%s -> %s records): re-reading from %s",
                     total0, total, _ts(anchor))
            since, offset, total0 = anchor, 0, None
            continue
        yield records, f"[{_ts(since)}, {_ts(hi)}) offset {offset}"
        if not more or not records:
            return
        m = modified_of(records[-1])
        if m is not None:
            last = m
        offset += page_size
        if cap is not None and offset + page_size > cap:
            if last is None or (since is not None and last <= since):
                raise WalkError(f"more than {cap} records share modification time {_ts(since)}: "
                                "cannot page past it")
            since, offset, total0 = last, 0, None

"""The raw write pipeline: pages → validated COPY lines → batches committed on a writer thread.

Pages are fetched one or two ahead on a prefetch thread while the current one is validated;
validated batches (by default >= 5,000 records) are committed by a writer thread while the next
ones are fetched. Each commit is one transaction holding the rows (COPY into a stage + merge, or
a direct COPY while the table was empty and every id is new), the rejects, the schema changes,
the run-log counters and the cursor: a process killed anywhere loses its uncommitted batch only,
and the cursor did not move for it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation
from pydantic import ValidationError

from handoff.extract.load import Quality, RawLoader, copy_text
from handoff.extract.runlog import RunLog
from handoff.extract.state import advance_state
from handoff.extract.stream import Page, Stream, Window

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
NULL, DELETED, LIVE = "\\N", "\tt\t", "\tf\t"  # COPY text tokens
BACKSLASH, ESCAPED_BACKSLASH = "\\", "\\\\"


@dataclass
class Landed:
    """What the pipeline committed: counted per batch, in the batch's transaction."""

    pages: int = 0
    records: int = 0
    changed: int = 0
    rejects: int = 0
    cursor: datetime | None = None
    schema_changes: list = field(default_factory=list)
    live_ids: set[str] = field(default_factory=set)  # snapshot streams: every id the report listed
    newest: datetime | None = None  # the newest modification time read, and the ids read at it
    ids_at_newest: set[str] = field(default_factory=set)
    left_watched: int = 0  # rows raw held at the watched timestamp that this run read at a later one


@dataclass
class _Batch:
    """Pages accumulated until the next commit."""

    lines: list[str] = field(default_factory=list)
    rejects: list[tuple[str | None, str, str]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    samples: dict[str, Any] = field(default_factory=dict)
    dup: bool = False
    pages: int = 0
    last_label: str = ""
    max_mod: datetime | None = None
    finished: list[str] = field(default_factory=list)  # windows whose every record is in this batch or before


class WritePipeline:
    def __init__(self, stream: Stream, conn, runlog: RunLog, window: Window, commit_records: int,
                 prefetch_pages: int, retries: Callable[[], int]):
        self.stream, self.conn, self.runlog, self.window = stream, conn, runlog, window
        self.commit_records, self.prefetch_pages, self.retries = commit_records, prefetch_pages, retries
        self.loader = RawLoader(conn, stream.source, stream.name)
        self.quality = Quality(conn, stream.source, stream.name, stream.declared_fields())
        # A first load into an empty table COPYs straight into raw (no staging, no merge) while
        # every batch's ids are new; the first conflict switches to staging + merge for good.
        self.direct = self.loader.is_empty()
        self.landed = Landed()
        self.watched: datetime | None = None
        # Called in each batch's transaction with the windows the batch finishes (windowed loads:
        # `handoff.extract.windows` moves the cursor there, never per batch).
        self.on_commit: Callable[[object, list[str]], None] | None = None

    def watch_leaving(self, ts: datetime) -> None:
        """Count the rows raw holds at `ts` that this run reads again at a later time (`left_watched`)."""
        self.watched = ts

    def run(self, pages: Iterator[Page]) -> Landed:
        s, landed = self.stream, self.landed
        identify, fields_of, known = s.identify, s.fields, self.quality.known
        plain_fields = type(s).fields is Stream.fields  # a record's fields are its keys
        snapshot = s.snapshot
        last_mod, last_iso = None, NULL
        writer = _Writer(self._commit)
        b = _Batch()
        try:
            for page in _prefetch(pages, self.prefetch_pages):
                if page.finishes is not None:  # every record of that window is in this batch or committed
                    b.finished.append(page.finishes)
                    continue
                page_rejects = 0
                lines, ids = b.lines, b.ids
                append, ids_add, seen_update = lines.append, ids.add, b.seen.update
                for rec in page.records:
                    seen_update(rec if plain_fields else fields_of(rec))  # rejected records count too
                    try:
                        sid, modified, deleted = identify(rec)
                    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
                        rid = rec.get(s.id_field) if isinstance(rec, dict) else None
                        if snapshot and rid is not None and rid != "":
                            landed.live_ids.add(str(rid))  # still in the report: rejected, not deleted
                        b.rejects.append((None if rid is None else str(rid), _reason(exc), _encode(rec).decode()))
                        page_rejects += 1
                        continue
                    if sid in ids:
                        b.dup = True
                    ids_add(sid)
                    if snapshot:
                        landed.live_ids.add(sid)
                    if modified is None:
                        iso = NULL
                    else:
                        if modified != last_mod:  # ties are common: format each time once
                            last_mod, last_iso = modified, modified.isoformat()
                            if b.max_mod is None or modified > b.max_mod:
                                b.max_mod = modified
                            if landed.newest is None or modified > landed.newest:
                                landed.newest, landed.ids_at_newest = modified, set()
                        if modified == landed.newest:
                            landed.ids_at_newest.add(sid)
                        iso = last_iso
                    append(f"{copy_text(sid)}\t{iso}{DELETED if deleted else LIVE}"
                           f"{_encode(rec).decode().replace(BACKSLASH, ESCAPED_BACKSLASH)}\n")
                if not b.seen <= known:  # a new field: keep one sample value for ops.schema_changes
                    for f in b.seen - known - b.samples.keys():
                        b.samples[f] = next((_sample(r, f) for r in page.records if f in fields_of(r)), None)
                b.pages += 1
                b.last_label = page.label
                log.debug("%s: %s records=%d rejects=%d max_modified=%s retries=%d",
                          s.table, page.label, len(page.records), page_rejects, b.max_mod, self.retries())
                if len(lines) + len(b.rejects) >= self.commit_records:
                    writer.submit(b)
                    b = _Batch()
            if b.pages or b.finished:
                writer.submit(b)
        finally:
            writer.close()
        return landed

    def _commit(self, b: _Batch) -> None:
        """Runs in the writer thread: one transaction per batch."""
        s, conn, loader, landed = self.stream, self.conn, self.loader, self.landed
        with conn.transaction():
            changed = left = 0
            if b.lines:
                if self.direct and not b.dup:
                    try:
                        with conn.transaction():  # savepoint
                            loader.copy_direct(b.lines, self.runlog.batch_id)
                        changed = len(b.lines)
                    except UniqueViolation:
                        self.direct = False
                        log.info("%s: ids already in raw; merging from here on", s.table)
                if not changed:
                    loader.copy_rows(b.lines)
                    if self.watched is not None:
                        left = loader.count_leaving(self.watched)
                    changed = loader.merge(self.runlog.batch_id, unique_ids=not b.dup)
            self.quality.reject(self.runlog.batch_id, b.rejects)
            changes = self.quality.observe_fields(self.runlog.batch_id, b.seen, b.samples)
            self.runlog.record_batch(conn, pages=b.pages, records=len(b.lines), changed=changed,
                                     rejects=len(b.rejects), retries=self.retries())
            if self.window.advance_cursor and b.max_mod is not None:
                advance_state(conn, s.source, s.name, self.runlog.batch_id, b.max_mod)
            if self.on_commit is not None and b.finished:
                self.on_commit(conn, b.finished)
        for f, ch in changes:
            log.warning("%s: schema change: field %r %s (recorded in ops.schema_changes)", s.table, f, ch)
        landed.schema_changes += changes
        landed.records += len(b.lines)
        landed.changed += changed
        landed.left_watched += left
        landed.rejects += len(b.rejects)
        landed.pages += b.pages
        if b.max_mod is not None and (landed.cursor is None or b.max_mod > landed.cursor):
            landed.cursor = b.max_mod
        log.info("%s: committed %d pages, %d records (%d changed), %d rejects; last page %s; cursor=%s",
                 s.table, b.pages, len(b.lines), changed, len(b.rejects), b.last_label, landed.cursor)


def _prefetch(pages: Iterator[Page], depth: int) -> Iterator[Page]:
    """Fetch the next pages in a thread while the current one is validated and loaded."""
    if depth <= 0:
        yield from pages
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for p in pages:
                while not stop.is_set():
                    try:
                        q.put(p, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # forwarded to the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="extract-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Writer:
    """Commits batches in order on a second thread, so Postgres works while the next pages are
    fetched and validated. At most one batch waits, bounding memory; the first error stops it
    and is re-raised in the caller (no later batch commits after a failed one)."""

    def __init__(self, commit: Callable[[_Batch], None]):
        self.commit = commit
        self.q: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="extract-writer", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            b = self.q.get()
            if b is None:
                return
            if self.error is None:
                try:
                    self.commit(b)
                except BaseException as exc:
                    self.error = exc

    def submit(self, b: _Batch) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(b)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _sample(rec: dict, f: str) -> Any:
    container = rec if f in rec else (rec.get("properties") or {})
    return container.get(f)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<record>'}: {e['msg']}" for e in exc.errors()
        )[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]

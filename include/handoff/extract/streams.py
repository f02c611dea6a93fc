"""The generic stream runner: window → pages → validate → COPY + merge + cursor, exactly once.

Cursor semantics (`ops.extract_state.cursor_ts`): the highest source modification time among
the records committed in raw. Pages are requested in ascending modification order, so every
record at or below the cursor is already landed. Each commit (a batch of pages, by default
>= 5,000 records) lands rows, rejects, schema changes, ledger counters and the new cursor in one
transaction. A scheduled run reads `modified >= cursor - lookback` with no upper bound:
inclusive, so records sharing the cursor's timestamp across a page or run boundary are read
again rather than skipped; the look-back catches late writers; the upsert makes the overlap a
no-op. A process killed anywhere loses its uncommitted batch only, and the cursor did not move
for it, so the next run reads it again.

Run modes:
- `incremental` (scheduled or manual run): [cursor - lookback, now]; advances the cursor.
- `full_refresh` (param): everything; advances the cursor.
- `backfill` (backfill runs, or conf `{"window": "interval"}`): exactly the run's data interval
  [start, end) on the source modification time; never moves the cursor (it may be behind it).
- snapshot streams (Workday): every run reads the whole report; ids missing are marked deleted.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation
from pydantic import BaseModel, ValidationError

from handoff.extract.http import SourceClient
from handoff.extract.ledger import RunInfo, RunLedger
from handoff.extract.load import Quality, RawLoader, Tombstone, copy_text
from handoff.extract.state import StreamState, advance_state, load_state

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
NULL, DELETED, LIVE = "\\N", "\tt\t", "\tf\t"  # COPY text tokens


@dataclass(frozen=True)
class Window:
    """What a run reads: modification time in [start, end); None = unbounded."""

    mode: str
    start: datetime | None = None
    end: datetime | None = None
    advance_cursor: bool = True

    def describe(self) -> str:
        s = self.start.isoformat() if self.start else "-inf"
        e = self.end.isoformat() if self.end else "now"
        return f"{self.mode} [{s}, {e})"


@dataclass
class Page:
    records: list[dict]
    label: str


@dataclass
class ExtractSettings:
    lookback: timedelta = timedelta(minutes=10)
    commit_records: int = 5000
    prefetch_pages: int = 2
    reconcile_every: timedelta = timedelta(0)  # id reconciliation cadence (0 = every run)
    lock_wait: timedelta = timedelta(minutes=10)  # how long a run waits for another run of its stream
    # Deletes inferred from absence (snapshot diff, id reconciliation) may mark at most this share
    # of the live rows in one run; more fails the run (DeleteGuardError) unless it is a full refresh.
    max_delete_share: float = 0.2


@dataclass
class RunResult:
    source: str
    stream: str
    batch_id: str
    mode: str
    pages: int = 0
    records: int = 0
    rejects: int = 0
    deletes: int = 0
    retries: int = 0
    cursor: datetime | None = None
    schema_changes: list = field(default_factory=list)


def parse_ts(value: Any) -> datetime | None:
    """Parse the systems' timestamps (ISO with Z, +0000, +00:00, or a space separator) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):  # epoch milliseconds (HubSpot)
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    s = str(value)
    if s.isdigit():
        return datetime.fromtimestamp(int(s) / 1000, tz=UTC)
    if s.endswith("+0000"):
        s = s[:-5] + "+00:00"
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class DeleteGuardError(RuntimeError):
    """Absence-inferred deletes beyond `max_delete_share`: probably a broken read, not a purge."""


class StreamBusy(RuntimeError):
    """Another run of the same stream held its lock for longer than `lock_wait`."""


LOCK_NAMESPACE = 0x48414E45  # advisory lock class id of stream locks ("HANE"); object id = hashtext(stream)


class Stream:
    """One object of one system. Subclasses say how to page; identity comes from the model.

    `model` declares the object's required fields (pydantic); `id_field`, `modified_field` and
    `deleted_field` name the model attributes that give identity, version and deletion.
    """

    source: str = ""
    name: str = ""
    model: type[BaseModel]
    id_field = "id"
    modified_field: str | None = "updated_at"
    deleted_field: str | None = None
    snapshot = False  # a full report each run; ids not in it are deleted
    reconcile = False  # list live ids periodically to find hard deletes

    def __init__(self, name: str, model: type[BaseModel], **options: Any):
        self.name, self.model = name, model
        self.options = options
        self._validate = model.__pydantic_validator__.validate_python

    # -- to implement ----------------------------------------------------------------------------
    def pages(self, client: SourceClient, window: Window, state: StreamState) -> Iterator[Page]:
        raise NotImplementedError

    def tombstones(self, client: SourceClient, window: Window, state: StreamState) -> Iterator[list[Tombstone]]:
        """Deletes the system reports explicitly (HubSpot archived, NetSuite DeletedRecord)."""
        return iter(())

    def live_ids(self, client: SourceClient) -> Iterator[list[str]]:
        """Every id the system still lists (reconciliation)."""
        raise NotImplementedError

    def confirm_missing(self, client: SourceClient, ids: list[str]) -> set[str]:
        """Of `ids` absent from a listing, those the system really no longer has."""
        return set(ids)

    # -- shared ----------------------------------------------------------------------------------
    def identify(self, record: dict) -> tuple[str, datetime | None, bool]:
        """Validate the required fields; returns (id, modified, deleted) or raises ValidationError."""
        m = self._validate(record)
        modified = getattr(m, self.modified_field) if self.modified_field else None
        deleted = bool(getattr(m, self.deleted_field)) if self.deleted_field else False
        return str(getattr(m, self.id_field)), modified, deleted

    def fields(self, record: dict) -> Iterable[str]:
        """Field names used for schema-drift detection."""
        return record.keys()

    def declared_fields(self) -> list[str]:
        return [f.alias or name for name, f in self.model.model_fields.items() if f.is_required()]

    @property
    def table(self) -> str:
        return f"raw_{self.source}.{self.name}"


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
    """
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


def compute_window(stream: Stream, state: StreamState, info: RunInfo, settings: ExtractSettings,
                   interval_window: bool = False) -> Window:
    if stream.snapshot:  # a report is always the current snapshot: replaying an old one would regress raw
        return Window("snapshot")
    if info.full_refresh:
        return Window("full_refresh")
    if interval_window or info.run_type == "backfill":
        return Window("backfill", info.data_interval_start, info.data_interval_end, advance_cursor=False)
    start = state.cursor_ts - settings.lookback if state.cursor_ts else None
    return Window("incremental", start)


class StreamRunner:
    """Runs one stream once: the body of an Airflow task, also callable from scripts and tests."""

    def __init__(self, stream: Stream, client: SourceClient, conn, settings: ExtractSettings | None = None):
        self.stream, self.client, self.conn = stream, client, conn
        conn.autocommit = True  # every `conn.transaction()` below is then a real, committed transaction
        self.settings = settings or ExtractSettings()
        self.full_refresh = False

    def run(self, info: RunInfo | None = None, interval_window: bool = False) -> RunResult:
        info = info or RunInfo()
        self.full_refresh = info.full_refresh
        self._lock()
        try:
            return self._locked_run(info, interval_window)
        finally:
            self._unlock()

    def _lock(self) -> None:
        """One run per stream at a time (a manual run next to a scheduled one): a session advisory
        lock, released at the end or when the connection dies (kill -9). The second run waits."""
        key = (LOCK_NAMESPACE, f"{self.stream.source}.{self.stream.name}")
        if self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key).fetchone()[0]:
            return
        wait = self.settings.lock_wait.total_seconds()
        log.warning("%s: another run of this stream is in progress; waiting up to %.0f s for it",
                    self.stream.table, wait)
        from psycopg.errors import LockNotAvailable

        try:
            with self.conn.transaction():
                self.conn.execute(f"SET LOCAL lock_timeout = {int(wait * 1000)}")
                self.conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
        except LockNotAvailable:
            raise StreamBusy(f"{self.stream.table}: another run of this stream held its lock for more than "
                             f"{wait:.0f} s (see ops.extract_runs where outcome = 'running')") from None
        log.info("%s: the other run finished; going on", self.stream.table)

    def _unlock(self) -> None:
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                              (LOCK_NAMESPACE, f"{self.stream.source}.{self.stream.name}"))
        except Exception:  # the connection is gone: so is the lock
            log.debug("could not release the stream lock", exc_info=True)

    def _locked_run(self, info: RunInfo, interval_window: bool) -> RunResult:
        from handoff.warehouse.migrate import ensure_ready

        s, conn = self.stream, self.conn
        ensure_ready(conn, s.source, s.name)
        state = load_state(conn, s.source, s.name)
        window = compute_window(s, state, info, self.settings, interval_window)
        batch_id = f"{s.source}.{s.name}.{datetime.now(UTC):%Y%m%dT%H%M%S}.{uuid.uuid4().hex[:8]}"
        ledger = RunLedger(s.source, s.name, batch_id)
        ledger.start(conn, info, window.mode, window.start, window.end)
        result = RunResult(s.source, s.name, batch_id, window.mode)
        log.info("%s: start %s batch=%s cursor=%s", s.table, window.describe(), batch_id, state.cursor_ts)
        try:
            self._run(window, state, ledger, result)
        except BaseException as exc:
            try:
                ledger.finish(conn, "failed", self.client.retries,
                              self.client.redact(f"{type(exc).__name__}: {exc}")[:2000])
            except Exception:  # the warehouse may be the thing that failed
                log.exception("could not record the failure in ops.extract_runs")
            raise
        result.retries = self.client.retries
        ledger.finish(conn, "success", self.client.retries)
        log.info(
            "%s: done %s pages=%d records=%d rejects=%d deletes=%d retries=%d cursor=%s",
            s.table, window.mode, result.pages, result.records, result.rejects, result.deletes,
            result.retries, result.cursor,
        )
        return result

    # ------------------------------------------------------------------------------------------
    def _run(self, window: Window, state: StreamState, ledger: RunLedger, result: RunResult) -> None:
        s, conn = self.stream, self.conn
        loader = RawLoader(conn, s.source, s.name)
        quality = Quality(conn, s.source, s.name, s.declared_fields())
        identify, fields_of = s.identify, s.fields
        raw_was_empty = loader.is_empty()
        # A first load into an empty table COPYs straight into raw (no staging, no merge) while
        # every batch's ids are new; the first conflict switches to staging + merge for good.
        direct = [raw_was_empty]
        live_ids: set[str] = set()  # snapshot: every id the report still lists (rejected entries too)

        def commit(b: _Batch) -> None:
            """Runs in the writer thread: one transaction per batch."""
            with conn.transaction():
                if b.lines:
                    landed = False
                    if direct[0] and not b.dup:
                        try:
                            with conn.transaction():  # savepoint
                                loader.copy_direct(b.lines, ledger.batch_id)
                            landed = True
                        except UniqueViolation:
                            direct[0] = False
                            log.info("%s: ids already in raw; merging from here on", s.table)
                    if not landed:
                        loader.copy_rows(b.lines)
                        loader.merge(ledger.batch_id, unique_ids=not b.dup)
                quality.reject(ledger.batch_id, b.rejects)
                changes = quality.observe_fields(ledger.batch_id, b.seen, b.samples)
                ledger.record_batch(conn, b.pages, len(b.lines), len(b.rejects), 0, self.client.retries)
                if window.advance_cursor and b.max_mod is not None:
                    advance_state(conn, s.source, s.name, ledger.batch_id, b.max_mod)
            for f, ch in changes:
                log.warning("%s: schema change: field %r %s (recorded in ops.schema_changes)", s.table, f, ch)
            result.schema_changes += changes
            result.records += len(b.lines)
            result.rejects += len(b.rejects)
            result.pages += b.pages
            if b.max_mod is not None and (result.cursor is None or b.max_mod > result.cursor):
                result.cursor = b.max_mod
            log.info("%s: committed %d records, %d rejects; cursor=%s", s.table, len(b.lines), len(b.rejects),
                     result.cursor)

        writer = _Writer(commit)
        b = _Batch()
        try:
            for page in _prefetch(s.pages(self.client, window, state), self.settings.prefetch_pages):
                page_rejects = 0
                lines, ids = b.lines, b.ids
                for rec in page.records:
                    b.seen.update(fields_of(rec))  # rejected records count for drift too
                    try:
                        sid, modified, deleted = identify(rec)
                    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
                        rid = rec.get(s.id_field) if isinstance(rec, dict) else None
                        if s.snapshot and rid is not None and rid != "":
                            live_ids.add(str(rid))  # still in the report: rejected, not deleted
                        b.rejects.append((None if rid is None else str(rid), _reason(exc), _encode(rec).decode()))
                        page_rejects += 1
                        continue
                    if sid in ids:
                        b.dup = True
                    ids.add(sid)
                    if s.snapshot:
                        live_ids.add(sid)
                    if modified is not None and (b.max_mod is None or modified > b.max_mod):
                        b.max_mod = modified
                    lines.append(
                        copy_text(sid) + "\t" + (NULL if modified is None else modified.isoformat())
                        + (DELETED if deleted else LIVE) + _encode(rec).decode().replace("\\", "\\\\") + "\n"
                    )
                if not b.seen <= quality.known:  # a new field: keep one sample value for ops.schema_changes
                    for f in b.seen - quality.known - b.samples.keys():
                        b.samples[f] = next((_sample(r, f) for r in page.records if f in fields_of(r)), None)
                b.pages += 1
                log.info(
                    "%s: %s records=%d rejects=%d max_modified=%s retries=%d",
                    s.table, page.label, len(page.records), page_rejects, b.max_mod, self.client.retries,
                )
                if len(lines) + len(b.rejects) >= self.settings.commit_records:
                    writer.submit(b)
                    b = _Batch()
            if b.pages:
                writer.submit(b)
        finally:
            writer.close()

        # Deletes the system reports.
        for tombs in s.tombstones(self.client, window, state):
            with conn.transaction():
                n = loader.apply_tombstones(tombs, ledger.batch_id)
                ledger.record_batch(conn, 0, 0, 0, n, self.client.retries)
            result.deletes += n
            log.info("%s: %d delete(s) reported, %d applied", s.table, len(tombs), n)

        if s.snapshot:
            with conn.transaction():
                loader.stage_live_ids(live_ids)
                missing, held = loader.count_missing()
                self._guard_deletes(missing, held, f"the snapshot of {len(live_ids)} ids")
                n = loader.delete_missing(ledger.batch_id)
                ledger.record_batch(conn, 0, 0, 0, n, self.client.retries)
            result.deletes += n
            log.info("%s: snapshot of %d ids, %d missing marked deleted", s.table, len(live_ids), n)
        elif s.reconcile and window.mode != "backfill":
            if raw_was_empty:  # everything in raw was listed by this very run: nothing to reconcile
                with conn.transaction():
                    advance_state(conn, s.source, s.name, ledger.batch_id, None,
                                  {"reconciled_at": datetime.now(UTC).isoformat()})
            else:
                self._reconcile(loader, ledger, state, result)

    def _guard_deletes(self, n: int, live: int, what: str) -> None:
        """Refuse to mark more than `max_delete_share` of the live rows deleted because they are absent
        from a read (an empty or truncated report or listing looks exactly like a mass delete)."""
        share = self.settings.max_delete_share
        if n == 0 or self.full_refresh or n <= share * live:
            return
        raise DeleteGuardError(
            f"{self.stream.table}: {what} would mark {n} of {live} live rows deleted (more than "
            f"{share:.0%}); refusing to mark them. If the deletes are real, trigger a run with "
            f'conf {{"full_refresh": true}}, or raise handoff_extract_max_delete_share.'
        )

    def _reconcile(self, loader: RawLoader, ledger: RunLedger, state: StreamState, result: RunResult) -> None:
        """Hard deletes: ids raw holds that the system no longer lists (each confirmed by id)."""
        s, conn = self.stream, self.conn
        last = state.extra.get("reconciled_at")
        now = datetime.now(UTC)
        if last and now - datetime.fromisoformat(last) < self.settings.reconcile_every:
            return
        listed: list[str] = []
        for chunk in s.live_ids(self.client):
            listed.extend(chunk)
        listed_set = set(listed)
        held = [r[0] for r in conn.execute(
            f"SELECT source_id FROM {s.table} WHERE NOT is_deleted"  # noqa: S608 - identifiers from code
        ).fetchall()]
        missing = [i for i in held if i not in listed_set]
        gone = s.confirm_missing(self.client, missing) if missing else set()
        self._guard_deletes(len(gone), len(held), f"reconciliation against {len(listed)} listed ids")
        with conn.transaction():
            n = loader.apply_tombstones([Tombstone(i, None) for i in sorted(gone)], ledger.batch_id)
            ledger.record_batch(conn, 0, 0, 0, n, self.client.retries)
            advance_state(conn, s.source, s.name, ledger.batch_id, None, {"reconciled_at": now.isoformat()})
        result.deletes += n
        log.info("%s: reconciled %d listed ids; %d missing, %d confirmed deleted", s.table, len(listed),
                 len(missing), n)


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
    max_mod: datetime | None = None


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

"""The stream runner: one run of one stream, exactly once: window → pages → write pipeline →
deletes → cursor.

Cursor semantics (`ops.extract_state.cursor_ts`): the highest source modification time among
the records committed in raw. Pages are requested in ascending modification order, so every
record at or below the cursor is already landed. A scheduled run reads `modified >= cursor -
lookback` with no upper bound: inclusive, so records sharing the cursor's timestamp across a page
or run boundary are read again rather than skipped; the look-back catches late writers; the
upsert makes the overlap a no-op.

Run modes:
- `incremental` (scheduled or manual run): [cursor - lookback, now]; advances the cursor.
- `full_refresh` (param): everything; advances the cursor.
- `backfill` (backfill runs, or conf `{"window": "interval"}`): exactly the run's data interval
  [start, end) on the source modification time; never moves the cursor (it may be behind it).
- snapshot streams (Workday): every run reads the whole report; ids missing are marked deleted.

The cursor's own timestamp is re-read by every scheduled run (ties). When the stream can count
cheaply (`Stream.count`) a run that read every record at its final cursor timestamp records that
proof (`cursor_extra.proof`: the timestamp and how many records it holds); the next run counts
that timestamp again and reads the look-back window around it instead of through it; records that
left it (edited to a later time) are followed as they merge, and unless the count explains them
exactly (a late writer entered), the group is read again. An idle minute then costs a few
requests, not a re-read of a bulk approval's thousands of ties.

Deletion sweeps that cost a full listing (HubSpot's archived records, Kantata's live ids) run at
the reconcile cadence (`reconcile_every`), not every minute, and compare in Postgres: listed ids
are COPYed into a session stage and anti-joined with raw, so memory stays flat at any size. Past a
few thousand rows, Kantata's compares counts by creation time instead and lists only the ranges
that differ (`handoff.extract.sweep`).

First loads, full refreshes and large catch-ups are read as concurrent windows
(`handoff.extract.windows`) before the incremental tail; the cursor then moves per finished prefix
of windows instead of per batch.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain

from psycopg.errors import LockNotAvailable

from handoff.connectors.http import SystemClient
from handoff.connectors.limiter import Limiter, limit_of
from handoff.extract.load import RawLoader, Tombstone
from handoff.extract.pipeline import WritePipeline
from handoff.extract.runlog import RunInfo, RunLog
from handoff.extract.state import StreamState, advance_state, load_state
from handoff.extract.stream import Stream, Window, parse_ts
from handoff.extract.sweep import sweep_deletes
from handoff.extract.windows import (
    STATE_KEY,
    Plan,
    WindowedPages,
    mark_done,
    plan_windows,
    save_plan,
    window_size,
)
from handoff.warehouse.migrate import ensure_ready

log = logging.getLogger(__name__)
MAX_SKIPPED = 200  # cursor timestamps skipped between two sweeps (one a minute at a 15-minute cadence)
FULL_LISTING_MAX = 4000  # live rows up to which a full id listing (20 pages) is cheaper than count bisection
LOCK_NAMESPACE = 0x48414E45  # advisory lock class id of stream locks ("HANE"); object id = hashtext(stream)


@dataclass
class ExtractSettings:
    lookback: timedelta = timedelta(minutes=10)
    commit_records: int = 5000
    prefetch_pages: int = 2
    reconcile_every: timedelta = timedelta(0)  # deletion-sweep cadence (0 = every run)
    lock_wait: timedelta = timedelta(minutes=10)  # how long a run waits for another run of its stream
    # Deletes inferred from absence (snapshot diff, id reconciliation) may mark at most this share
    # of the live rows in one run; more fails the run (DeleteGuardError) unless it is a full refresh.
    max_delete_share: float = 0.2
    # Windowed loads (handoff.extract.windows): records per window (0: the stream's own figure), the
    # most windows read at once (also capped by the system's concurrency slots), and when an
    # incremental run is a catch-up worth windowing (its stream's last success is older than
    # `catchup_after` and more than two windows' worth of records changed since).
    window_records: int = 0
    window_workers: int = 8
    catchup_after: timedelta = timedelta(minutes=30)


@dataclass
class RunResult:
    source: str
    stream: str
    batch_id: str
    mode: str
    pages: int = 0
    records: int = 0
    changed: int = 0  # raw rows inserted, changed or newly marked deleted
    changed_since_success: int = 0  # ... also by failed attempts since the last success (announce this)
    rejects: int = 0
    deletes: int = 0
    retries: int = 0
    requests: int = 0
    swept: bool = False
    windows: int = 0  # windows read by a windowed load in this run
    sweep_requests: int = 0  # API requests the delete sweep spent
    cursor: datetime | None = None
    schema_changes: list = field(default_factory=list)


class DeleteGuardError(RuntimeError):
    """Absence-inferred deletes beyond `max_delete_share`: probably a broken read, not a purge."""


class StreamBusy(RuntimeError):
    """Another run of the same stream held its lock for longer than `lock_wait`."""


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

    def __init__(self, stream: Stream, client: SystemClient, conn, settings: ExtractSettings | None = None,
                 connect: Callable[[], object] | None = None):
        """`connect` opens a new warehouse connection: windowed loads then hold the system's
        concurrency slots (shared with every process) while they read; without it they don't."""
        self.stream, self.client, self.conn = stream, client, conn
        conn.autocommit = True  # every `conn.transaction()` below is then a real, committed transaction
        self.settings = settings or ExtractSettings()
        self.connect = connect
        self.full_refresh = False

    def run(self, info: RunInfo | None = None, interval_window: bool = False) -> RunResult:
        info = info or RunInfo()
        self.full_refresh = info.full_refresh
        self._lock()
        try:
            with self._slot():
                return self._locked_run(info, interval_window)
        finally:
            self._unlock()

    @contextmanager
    def _slot(self):
        """With a warehouse to share them (`connect`), the run's own requests hold one of the
        system's concurrency slots (`handoff.connectors.limiter`), as each window worker does: a
        backfill's windows and the minute's runs of every stream together stay under the limit."""
        if self.connect is None:
            yield
            return
        limiter = Limiter(self.client.system, limit_of(self.client), self.connect)
        with limiter.slot(wait=self.settings.lock_wait.total_seconds()) as slot:
            if slot is None:
                raise StreamBusy(f"{self.stream.table}: every concurrency slot of {self.client.system} stayed busy "
                                 f"for {self.settings.lock_wait.total_seconds():.0f} s")
            yield

    @property
    def _lock_key(self) -> tuple[int, str]:
        return LOCK_NAMESPACE, f"{self.stream.source}.{self.stream.name}"

    def _lock(self) -> None:
        """One run per stream at a time (a manual run next to a scheduled one): a session advisory
        lock, released at the end or when the connection dies (kill -9). The second run waits."""
        if self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", self._lock_key).fetchone()[0]:
            return
        wait = self.settings.lock_wait.total_seconds()
        log.warning("%s: another run of this stream is in progress; waiting up to %.0f s for it",
                    self.stream.table, wait)
        try:
            with self.conn.transaction():
                self.conn.execute(f"SET LOCAL lock_timeout = {int(wait * 1000)}")
                self.conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", self._lock_key)
        except LockNotAvailable:
            raise StreamBusy(f"{self.stream.table}: another run of this stream held its lock for more than "
                             f"{wait:.0f} s (see ops.extract_runs where outcome = 'running')") from None
        log.info("%s: the other run finished; going on", self.stream.table)

    def _unlock(self) -> None:
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", self._lock_key)
        except Exception:  # the connection is gone: so is the lock
            log.debug("could not release the stream lock", exc_info=True)

    def _locked_run(self, info: RunInfo, interval_window: bool) -> RunResult:
        s, conn = self.stream, self.conn
        ensure_ready(conn, s.source, s.name)
        state = load_state(conn, s.source, s.name)
        window = compute_window(s, state, info, self.settings, interval_window)
        batch_id = f"{s.source}.{s.name}.{datetime.now(UTC):%Y%m%dT%H%M%S}.{uuid.uuid4().hex[:8]}"
        runlog = RunLog(s.source, s.name, batch_id)
        runlog.start(conn, info, window.mode, window.start, window.end)
        result = RunResult(s.source, s.name, batch_id, window.mode)
        log.info("%s: start %s batch=%s cursor=%s", s.table, window.describe(), batch_id, state.cursor_ts)
        requests_before = self.client.requests
        try:
            self._run(window, state, runlog, result)
        except BaseException as exc:
            try:
                runlog.finish(conn, "failed", self.client.retries,
                              self.client.redact(f"{type(exc).__name__}: {exc}")[:2000])
            except Exception:  # the warehouse may be the thing that failed
                log.exception("could not record the failure in ops.extract_runs")
            raise
        result.retries = self.client.retries
        result.requests = self.client.requests - requests_before
        runlog.finish(conn, "success", self.client.retries)
        result.changed_since_success = runlog.changed_since_success(conn)
        log.info(
            "%s: done %s pages=%d records=%d changed=%d rejects=%d deletes=%d retries=%d requests=%d cursor=%s",
            s.table, window.mode, result.pages, result.records, result.changed, result.rejects, result.deletes,
            result.retries, result.requests, result.cursor,
        )
        return result

    # ------------------------------------------------------------------------------------------
    def _run(self, window: Window, state: StreamState, runlog: RunLog, result: RunResult) -> None:
        s, conn = self.stream, self.conn
        pipeline = WritePipeline(s, conn, runlog, window, self.settings.commit_records,
                                 self.settings.prefetch_pages, lambda: self.client.retries)
        raw_was_empty = pipeline.direct
        sweeping = not s.snapshot and window.mode != "backfill" and self._sweep_due(state)
        plan = self._windowed_plan(window, state, runlog)
        if plan is not None:
            self._run_windows(plan, pipeline, state, runlog, result)
            # The windows moved the cursor; the tail reads what changed meanwhile, with the look-back
            # (a late writer stamped before the plan's end may have become visible after its window
            # was read), around the cursor's own second when the windows read all of it (the proof).
            self._prove_cursor(pipeline.landed, load_state(conn, s.source, s.name), runlog)
            state = load_state(conn, s.source, s.name)
            window = Window("incremental", state.cursor_ts - self.settings.lookback if state.cursor_ts else None)
            pipeline.window = window
            # Right after windows that read it all, the proven second needs no re-read; a sweeping
            # run still re-reads the seconds skipped since the last sweep.
            windows, leaving = self._proven_windows(window, state, runlog, False)
            if sweeping:
                windows = [*self._skipped_windows(state, window.start), *windows]
        else:
            windows, leaving = self._proven_windows(window, state, runlog, sweeping)
        if leaving is not None:
            pipeline.watch_leaving(state.cursor_ts)
        landed = pipeline.run(chain.from_iterable(s.pages(self.client, w, state) for w in windows))
        if leaving is not None and landed.left_watched != leaving:
            c = state.cursor_ts
            log.info("%s: %d records left the cursor's %s, %d were read elsewhere: reading it again", s.table,
                     leaving, c, landed.left_watched)
            landed = pipeline.run(s.pages(self.client, Window("incremental", c, c + s.resolution), state))
        result.pages, result.records, result.changed = landed.pages, landed.records, landed.changed
        result.rejects, result.cursor, result.schema_changes = landed.rejects, landed.cursor, landed.schema_changes
        loader = pipeline.loader
        if window.advance_cursor:
            self._prove_cursor(landed, state, runlog)

        for tombs in s.tombstones(self.client, window, state):  # deletes reported for this window
            self._apply_tombstones(loader, runlog, result, tombs, "reported")

        if s.snapshot:
            with conn.transaction():
                loader.stage_live_ids(landed.live_ids)
                missing, held = loader.count_missing()
                self._guard_deletes(missing, held, f"the snapshot of {len(landed.live_ids)} ids")
                n = loader.delete_missing(runlog.batch_id)
                runlog.record_batch(conn, deletes=n, retries=self.client.retries)
            result.deletes += n
            result.changed += n
            log.info("%s: snapshot of %d ids, %d missing marked deleted", s.table, len(landed.live_ids), n)
        elif sweeping:
            self._sweep(loader, runlog, result, raw_was_empty, state)

    def _windowed_plan(self, window: Window, state: StreamState, runlog: RunLog) -> Plan | None:
        """The windows this run reads concurrently before its incremental tail, or None (sequential).

        An unfinished plan (a killed windowed load) is resumed by the next run that reads the
        cursor's way (a full refresh starts a new one). A new plan is made for a first load, a full
        refresh, or a catch-up (the stream's last success is older than `catchup_after` and more
        than two windows' worth of records changed since its cursor), when the stream can say its
        oldest and newest modification time (`Stream.bounds`) and count cheaply."""
        s, conn = self.stream, self.conn
        if s.snapshot or window.mode not in ("incremental", "full_refresh"):
            return None
        saved = state.extra.get(STATE_KEY)
        if saved and window.mode == "incremental":
            plan = Plan.from_json(saved)
            log.info("%s: resuming a windowed load: %d of %d windows to read", s.table, len(plan.todo),
                     len(plan.windows))
            return plan
        target = self.settings.window_records or s.window_records
        if window.mode == "incremental" and state.cursor_ts is not None:
            last = conn.execute("SELECT max(finished_at) FROM ops.extract_runs WHERE source = %s AND stream = %s "
                                "AND outcome = 'success'", (s.source, s.name)).fetchone()[0]
            if last is not None and datetime.now(UTC) - last < self.settings.catchup_after:
                return None
            total = s.count(self.client, window.start, None) if window.start else None
            if total is None or total <= 2 * target:
                return None
            log.info("%s: %d records changed since %s: catching up in windows", s.table, total, window.start)
        else:  # a first load or a full refresh: worth windowing past two windows' worth (or Bulk's size)
            total = s.count(self.client, None, None)
            if total is None or (total <= 2 * target and not s.prefers_window(self.client, total)):
                return None
        bounds = s.bounds(self.client)
        if bounds is None:
            return None
        oldest, newest = bounds
        since = window.start if window.mode == "incremental" else None
        if since is not None:
            oldest = max(oldest, since)
        workers = self._window_workers()
        plan = plan_windows(s, self.client, since, oldest, newest, total,
                            window_size(total, target, workers, s.min_window(self.client)), workers, self._slots())
        if len(plan.windows) < 2 and not s.prefers_window(self.client, total):
            return None
        save_plan(conn, s, runlog.batch_id, plan)
        return plan

    def _slots(self) -> Callable[[], object] | None:
        """Concurrency slots for a windowed load's extra threads (each takes one while it reads; the
        first reads on the run's own), or None without a warehouse to share them."""
        limit = limit_of(self.client)
        if self.connect is None or limit < 2:
            return None
        limiter = Limiter(self.client.system, limit, self.connect)
        return lambda: limiter.slot(wait=self.settings.lock_wait.total_seconds())

    def _window_workers(self) -> int:
        """The run holds one slot (`_slot`) and its first window worker reads on it (the run's own
        thread sends nothing meanwhile); each other worker takes one more while it reads a window."""
        return max(1, min(self.settings.window_workers, limit_of(self.client)))

    def _run_windows(self, plan: Plan, pipeline: WritePipeline, state: StreamState, runlog: RunLog,
                     result: RunResult) -> None:
        """Read the plan's unfinished windows concurrently into the pipeline; the cursor moves as a
        contiguous prefix of windows is done (`handoff.extract.windows.mark_done`)."""
        s, conn = self.stream, self.conn
        reader = WindowedPages(s, self.client, plan, state, self._window_workers(), self._slots())
        pipeline.window = Window("window", advance_cursor=False)
        pipeline.on_commit = lambda c, finished: mark_done(c, s, runlog.batch_id, plan, finished)
        log.info("%s: windowed load: %d windows to read, %d at a time (%s)", s.table, len(plan.todo),
                 reader.workers, self.client.pacer.describe())
        try:
            pipeline.run(iter(reader))
        finally:
            pipeline.on_commit = None
            self.client.requests += reader.requests
            self.client.retries += reader.retries
        result.windows = len(plan.windows)
        save_plan(conn, s, runlog.batch_id, None)

    def _proven_windows(self, window: Window, state: StreamState, runlog: RunLog,
                        sweeping: bool) -> tuple[list[Window], int | None]:
        """The run's windows, split around the cursor's timestamp while it is proven whole, and how
        many of its records must turn up later in this run (None: nothing to verify).

        The count there now = proven - left + entered. Records that left it (edited to a later
        time) are read later in this run and counted as they merge; when exactly `proven - count`
        of them turn up, nothing entered and the timestamp is not re-read; otherwise the runner
        reads it again. More than proven: something entered; read it. A hard delete balancing a
        late writer leaves the count unchanged, so every timestamp skipped this way is listed
        (`cursor_extra.skipped`) and read once more by the next run that sweeps for deletes.
        """
        s, c, proof = self.stream, state.cursor_ts, state.extra.get("proof") or {}
        skipped = [parse_ts(t) for t in state.extra.get("skipped") or []]
        if window.mode != "incremental" or c is None or window.start is None or parse_ts(proof.get("ts")) != c:
            return [window], None
        if sweeping:  # read everything skipped since the last sweep, the cursor's timestamp included
            return [*self._skipped_windows(state, window.start), window], None
        n, proven = s.count(self.client, c, c + s.resolution), proof.get("count")
        if n is None or proven is None or n > proven:
            log.info("%s: %s records at the cursor %s (proven %s): reading them again", s.table, n, c, proven)
            return [window], None
        log.info("%s: %d records at the cursor %s (proven %d): not re-read unless %d turn up later", s.table, n,
                 c, proven, proven - n)
        if c not in skipped:
            with self.conn.transaction():
                advance_state(self.conn, s.source, s.name, runlog.batch_id, None,
                              {"skipped": [t.isoformat() for t in skipped[-MAX_SKIPPED + 1:] + [c]]})
        before = [Window("incremental", window.start, c)] if window.start < c else []
        return [*before, Window("incremental", c + s.resolution, None)], proven - n

    def _skipped_windows(self, state: StreamState, before: datetime | None) -> list[Window]:
        """The seconds a proof skipped since the last sweep (`cursor_extra.skipped`) that lie before
        `before`: a sweeping run reads them again (a hard delete may have balanced a late writer)."""
        s = self.stream
        skipped = [parse_ts(t) for t in state.extra.get("skipped") or []]
        extra = [Window("incremental", t, t + s.resolution) for t in skipped if before is None or t < before]
        if extra:
            log.info("%s: re-reading %d timestamp(s) skipped since the last sweep", s.table, len(extra))
        return extra

    def _prove_cursor(self, landed, state: StreamState, runlog: RunLog) -> None:
        """Record that every record at the new cursor timestamp was read (count equals ids read)."""
        s, newest = self.stream, landed.newest
        if newest is None or (state.cursor_ts is not None and newest < state.cursor_ts):
            return
        n = s.count(self.client, newest, newest + s.resolution)
        if n is None or n != len(landed.ids_at_newest):
            return
        with self.conn.transaction():
            advance_state(self.conn, s.source, s.name, runlog.batch_id, None,
                          {"proof": {"ts": newest.isoformat(), "count": n}})

    def _apply_tombstones(self, loader: RawLoader, runlog: RunLog, result: RunResult, tombs: list[Tombstone],
                          how: str) -> None:
        with self.conn.transaction():
            n = loader.apply_tombstones(tombs, runlog.batch_id)
            runlog.record_batch(self.conn, deletes=n, retries=self.client.retries)
        result.deletes += n
        result.changed += n
        log.info("%s: %d delete(s) %s, %d applied", self.stream.table, len(tombs), how, n)

    def _sweep_due(self, state: StreamState) -> bool:
        last = state.extra.get("reconciled_at")
        return not last or datetime.now(UTC) - datetime.fromisoformat(last) >= self.settings.reconcile_every

    def _sweep(self, loader: RawLoader, runlog: RunLog, result: RunResult, raw_was_empty: bool,
               state: StreamState) -> None:
        """Deletion sweeps at the reconcile cadence: the system's full listing of deleted records,
        and/or the live-id reconciliation; the cadence's clock moves only when they succeed."""
        s, conn, now = self.stream, self.conn, datetime.now(UTC)
        listed = s.swept_tombstones(self.client)
        if listed is None and not s.reconcile:
            return
        result.swept = True
        for tombs in listed or ():
            self._apply_tombstones(loader, runlog, result, tombs, "listed")
        # On a first load everything in raw was listed by this very run: nothing to reconcile.
        if s.reconcile and not raw_was_empty:
            self._reconcile(loader, runlog, result, state)
        with conn.transaction():  # what the proof skipped was read again by this run
            advance_state(conn, s.source, s.name, runlog.batch_id, None,
                          {"reconciled_at": now.isoformat(), "skipped": []})

    def _reconcile(self, loader: RawLoader, runlog: RunLog, result: RunResult, state: StreamState) -> None:
        """Hard deletes: ids raw holds that the system no longer lists (each confirmed by id).

        A stream that can count by creation time (`count_created`: Kantata) compares counts and
        lists only the ranges that differ, plus a rotating slice of history that is listed in full
        once a day (`handoff.extract.sweep`): a few requests where a full listing costs one per
        page. Otherwise the full listing streams into a session stage and the difference is
        computed in Postgres."""
        s = self.stream
        cursor = result.cursor or state.cursor_ts
        if hasattr(s, "count_created") and cursor is not None and loader.live_count() > FULL_LISTING_MAX:
            every = self.settings.reconcile_every
            before = self.client.requests
            found = sweep_deletes(s, self.client, loader, state, cursor - self.settings.lookback,
                                  batch_id=runlog.batch_id, guard=self._guard_deletes,
                                  slices=max(1, round(timedelta(days=1) / every)) if every else 96)
            self._apply_tombstones(loader, runlog, result, [Tombstone(i, None) for i in found.gone], "confirmed")
            result.sweep_requests = self.client.requests - before
            log.info("%s: delete sweep: %s", s.table, found.describe())
            return
        before = self.client.requests
        loader.clear_live_ids()
        listed = 0
        for chunk in s.live_ids(self.client):
            loader.stage_live_ids(chunk)
            listed += len(chunk)
        missing = loader.missing_ids()
        held = loader.live_count()
        gone = s.confirm_missing(self.client, missing) if missing else set()
        self._guard_deletes(len(gone), held, f"reconciliation against {listed} listed ids")
        self._apply_tombstones(loader, runlog, result, [Tombstone(i, None) for i in sorted(gone)], "confirmed")
        loader.clear_live_ids()
        result.sweep_requests = self.client.requests - before
        log.info("%s: reconciled %d listed ids; %d missing, %d confirmed deleted", s.table, listed,
                 len(missing), len(gone))

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

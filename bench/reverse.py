"""Reverse sync benchmark: 10,000 approved time entries posted to the NetSuite simulator.

    python bench/reverse.py [--scale bench:150000] [--postings 10000] [--concurrent] [--out bench/results/reverse.json]

On a private PostgreSQL cluster (handoff.platform.postgres) in a temporary folder:
1. world: roles, warehouse, migrations (as bench/dbt.py's load_world), the simulators (SimCluster,
   seed 7, kept running: the sync posts to NetSuite), `extract_everything` into raw, then
   `dbt build --select +outbox_time_entries --exclude-resource-type unit_test` as the transformer
   (the project as committed at HEAD, schema prefix `bench_`).
2. outbox: exactly `--postings` postable rows kept in bench_outbox.outbox_time_entries (the lowest
   time_entry_ids); the other postable rows move to a side table (the concurrent phase's batch);
   blocked rows (closed periods, missing master data) are deleted too, so the outbox is exactly the
   entries to post and the whole sync's rate is the posting of those (with them the first sync would
   also dead-letter tens of thousands of rows: one-time planning work, not measured here).
3. the ERP's limits: NetSuite's `slow` fault (every request sleeps `--slow` s, counted in flight)
   and `concurrency_limit` `--limit`: the account allows at most limit / slow postings/s (75/s).
4. ceiling, same run: `--limit` threads send the cheapest authenticated NetSuite request
   (GET record/v1/currency/1) through the same client class for `--ceiling-seconds`: the
   requests/s this machine achieves against that ERP.
5. sync: `handoff.reverse.sync(warehouse, Client, source="time_entries")` with the engine's default
   concurrency (what the DAG task runs), timed; postings/s over the posting phase and over the
   whole sync (plan + post), ratio to limit/slow (target >= 0.9) and to the ceiling; retries and
   429s (client and simulator); requests per posting; the simulator's ledger and `timebill_live`
   truth checked: one create and exactly one live record per external id (duplicates must be 0);
   ledger states in ops.erp_postings.
6. --concurrent: the next batch of postable rows is put back in the outbox and two syncs run at
   once in two processes (the limiter's slots shared through Postgres): total rate, 429s, duplicates.

The simulator runs in this process; its request handling is timed from inside (`_serve`: arrival to
answer ready, including the slow sleep) to split each posting's time into the ERP's part and the
client's part (HTTP client, ledger statements, thread hand-offs). Load average sampled throughout.
Results: bench/results/reverse.json and a table in bench/results/reverse.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/dbt.py is a sibling: never let it shadow the dbt package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

REPO = _HERE.parent
RESULTS = REPO / "bench" / "results" / "reverse.json"
SEED = 7
DB = "bench_reverse"
CHEAP = "services/rest/record/v1/currency/1"  # the cheapest authenticated NetSuite request
TARGET_RATIO = 0.9
# buildable: the tests of the selected models, not those that also read models outside the selection
BUILD = ("build", "--select", "+outbox_time_entries", "--exclude-resource-type", "unit_test",
         "--indirect-selection", "buildable")


def _bench_dbt():
    """bench/dbt.py's helpers (private Postgres, dbt as the transformer, machine info)."""
    spec = importlib.util.spec_from_file_location("bench_dbt", _HERE / "dbt.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- world ----------------------------------------------------------------------------------
def load_world(cluster, scale: str, stack: contextlib.ExitStack) -> tuple:
    """Warehouse, migrations, simulators (left running on `stack`), every stream extracted into raw."""
    import logging

    import psycopg

    from handoff.extract.everything import extract_everything
    from handoff.extract.sources import raw_tables
    from handoff.platform import bootstrap
    from handoff.platform.connections import connection_env
    from handoff.sim.cluster import SimCluster
    from handoff.sim.http import SimCredentials
    from handoff.warehouse.migrate import migrate

    logging.getLogger("handoff").setLevel(logging.WARNING)
    bootstrap.bootstrap(cluster.url("postgres"), {}, warehouse_db=DB, airflow_db=None)
    url = cluster.url(DB)
    with psycopg.connect(url) as conn:
        migrate(conn, raw_tables())
    creds = SimCredentials("bench-" + secrets.token_hex(4), secrets.token_hex(16))
    t = time.perf_counter()
    sims = stack.enter_context(SimCluster(seed=SEED, scale=scale, credentials=creds))
    generate_s = round(time.perf_counter() - t, 2)
    os.environ.update(connection_env({s: sims.url(s) for s in sims.systems}, creds.client_id,
                                     creds.client_secret, url))
    t = time.perf_counter()
    rejects = sum(r.rejects for r in extract_everything(url))
    extract_s = round(time.perf_counter() - t, 2)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        entries = conn.execute("SELECT count(*) FROM raw_kantata.time_entries WHERE NOT is_deleted").fetchone()[0]
    return sims, url, {"scale": scale, "generate_s": generate_s, "extract_s": extract_s, "extract_rejects": rejects,
                       "time_entries": entries}


def snapshot_project(workdir: Path) -> tuple[Path, dict]:
    """dbt_project/ as committed at HEAD (the checkout has other helpers' work in progress)."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()
    tar = subprocess.run(["git", "archive", "--format=tar", commit, "dbt_project"], cwd=REPO, capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(workdir, filter="data")
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "include/handoff/reverse",
                            "include/handoff/connectors"], cwd=REPO, capture_output=True, text=True).stdout
    return workdir / "dbt_project", {"commit": commit, "engine_uncommitted_files": len(dirty.splitlines())}


def outbox_relation(prefix: str) -> str:
    return f'"{prefix}outbox".outbox_time_entries'


def trim_outbox(url: str, prefix: str, keep: int) -> dict:
    """Keep exactly `keep` postable rows (lowest ids); the other postable ones go to
    bench_spare.outbox_time_entries (the concurrent phase's batch); blocked rows are deleted."""
    import psycopg

    rel = outbox_relation(prefix)
    with psycopg.connect(url) as conn:
        total, postable = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE is_postable) FROM {rel}").fetchone()
        reasons = dict(conn.execute(f"SELECT coalesce(blocking_reason, '?'), count(*) FROM {rel} WHERE NOT is_postable "
                                    "GROUP BY 1 ORDER BY 2 DESC").fetchall())
        if postable < keep:
            raise SystemExit(f"the outbox has {postable:,} postable rows (of {total:,}), fewer than {keep:,}: "
                             "use a larger --scale")
        cut = conn.execute(f"SELECT time_entry_id FROM {rel} WHERE is_postable ORDER BY time_entry_id "
                           "OFFSET %s LIMIT 1", (keep - 1,)).fetchone()[0]
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench_spare")
        conn.execute(f"CREATE TABLE bench_spare.outbox_time_entries AS SELECT * FROM {rel} "
                     "WHERE is_postable AND time_entry_id > %s", (cut,))
        conn.execute(f"DELETE FROM {rel} WHERE NOT is_postable OR time_entry_id > %s", (cut,))
        kept = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE is_postable), min(tran_date), max(tran_date) "
                            f"FROM {rel}").fetchone()
    assert kept[0] == kept[1] == keep, kept
    return {"outbox_rows_built": total, "postable_built": postable, "blocked_built": total - postable,
            "blocked_by_reason": reasons, "kept_postable": keep, "spare_postable": postable - keep,
            "kept_tran_dates": [str(kept[2]), str(kept[3])]}


def refill_outbox(url: str, prefix: str, n: int) -> int:
    """Move the next `n` spare postable rows back into the outbox; returns how many moved."""
    import psycopg

    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT time_entry_id FROM bench_spare.outbox_time_entries "
                                          "ORDER BY time_entry_id LIMIT %s", (n,)).fetchall()]
        conn.execute(f"INSERT INTO {outbox_relation(prefix)} SELECT * FROM bench_spare.outbox_time_entries "
                     "WHERE time_entry_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM bench_spare.outbox_time_entries WHERE time_entry_id = ANY(%s)", (ids,))
    return len(ids)


# ---- measuring the ERP's side -----------------------------------------------------------------
class SimProbe:
    """Times every API request the NetSuite simulator serves (arrival to answer ready, incl. the
    slow sleep; admin endpoints excluded), with its status, method and path."""

    def __init__(self, server):
        self.spans: list[tuple[float, float, int | None, str, str]] = []
        serve = server._serve

        def timed(h, req, inflight):
            t0 = time.perf_counter()
            resp = serve(h, req, inflight)
            self.spans.append((t0, time.perf_counter(), None if resp is None else resp.status, req.method, req.path))
            return resp

        server._serve = timed

    def mark(self) -> int:
        return len(self.spans)

    def window(self, start: int, end: int | None = None) -> dict:
        """Requests served between two marks: counts, statuses; latency and mean requests in flight
        over the record requests (first to last; token requests counted, not timed)."""
        every = self.spans[start:end]
        spans = [s for s in every if "/auth/" not in s[4]]
        if not spans:
            return {"requests": len(every)}
        t0, t1 = min(s[0] for s in spans), max(s[1] for s in spans)
        lat = sorted(s[1] - s[0] for s in spans)
        status = Counter(str(s[2]) for s in every)
        kinds = Counter(f"{s[3]} {'/'.join(s[4].split('/')[:6])}" for s in every)
        return {"requests": len(every), "status": dict(status), "http_429": status.get("429", 0),
                "by_request": dict(kinds.most_common(6)), "timed_requests": len(spans),
                "timed_seconds": round(sum(lat), 3), "first_to_last_s": round(t1 - t0, 3),
                "requests_per_s": round(len(spans) / (t1 - t0), 2) if t1 > t0 else None,
                "mean_in_flight": round(sum(lat) / (t1 - t0), 2) if t1 > t0 else None,
                "latency_ms": {"mean": round(1000 * statistics.fmean(lat), 1),
                               "p50": round(1000 * lat[len(lat) // 2], 1),
                               "p99": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
                               "max": round(1000 * lat[-1], 1)}}


class LoadSampler:
    """1-minute load average and this process's CPU share, sampled every second."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        last_t, last_cpu = time.monotonic(), time.process_time()
        while not self._stop.wait(1.0):
            t, cpu = time.monotonic(), time.process_time()
            self.samples.append((os.getloadavg()[0], (cpu - last_cpu) / (t - last_t)))
            last_t, last_cpu = t, cpu

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        load = [s[0] for s in self.samples]
        cpu = [s[1] for s in self.samples]
        return {"loadavg_1m_mean": round(statistics.fmean(load), 2), "loadavg_1m_max": round(max(load), 2),
                "process_cpu_cores_mean": round(statistics.fmean(cpu), 2)}


class Timers:
    """Wall seconds and calls of the engine's own functions, wrapped in place for the run: where a
    sync's time goes (planning steps; per posting: the send, the HTTP call inside it, the ledger's
    claim and record statements on the workers' database threads)."""

    def __init__(self):
        self.lock, self.seconds, self.calls, self._undo = threading.Lock(), Counter(), Counter(), []

    def wrap(self, owner, name: str, label: str) -> None:
        orig = getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                with self.lock:
                    self.seconds[label] += dt
                    self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, orig))

    def __enter__(self):
        from handoff.connectors.limiter import Limiter
        from handoff.connectors.netsuite import Client
        from handoff.reverse import engine, ledger
        from handoff.reverse.outbox import OutboxSource

        for owner, name, label in (
                (engine, "ensure_ledger", "plan: ensure_ledger"), (OutboxSource, "read", "plan: read outbox"),
                (ledger, "load", "plan: read ledger"), (engine, "plan", "plan: plan()"),
                (engine, "apply", "plan: apply() (ledger insert)"), (ledger, "insert", "plan: ledger.insert"),
                (engine, "_due", "post: count due"), (Limiter, "acquire", "post: limiter.acquire"),
                (Limiter, "try_acquire", "post: limiter.try_acquire (up to N probes)"),
                (ledger, "claim", "post: ledger.claim (db thread)"), (engine, "send", "post: engine.send"),
                (Client, "send", "post: Client.send (HTTP)"), (engine, "record", "post: engine.record (db thread)")):
            self.wrap(owner, name, label)
        return self

    def __exit__(self, *exc):
        for owner, name, orig in reversed(self._undo):
            setattr(owner, name, orig)

    def report(self) -> dict:
        return {k: {"seconds": round(v, 3), "calls": self.calls[k],
                    "ms_per_call": round(1000 * v / self.calls[k], 2)} for k, v in self.seconds.items()}


def netsuite_client():
    from handoff.connectors.netsuite import Client
    from handoff.systems import system

    return Client(system("netsuite").conn_id)


def measure_ceiling(threads: int, seconds: float, probe: SimProbe) -> dict:
    """`threads` workers, each sending CHEAP back to back through one client for `seconds`."""
    from handoff.reverse.engine import _widen_pool  # the engine's own pool sizing: same client conditions

    client = netsuite_client()
    try:
        client.json("GET", CHEAP)  # token and a first connection
        _widen_pool(client, threads)
        retries0, mark = client.retries, probe.mark()
        start = time.perf_counter()
        end = start + seconds

        def run() -> tuple[int, float]:
            n = 0
            while time.perf_counter() < end:
                client.json("GET", CHEAP)
                n += 1
            return n, time.perf_counter()

        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(lambda _: run(), range(threads)))
        elapsed = max(t for _, t in done) - start
        n = sum(c for c, _ in done)
        return {"threads": threads, "request": f"GET {CHEAP}", "requests": n, "seconds": round(elapsed, 3),
                "requests_per_s": round(n / elapsed, 2), "client_retries": client.retries - retries0,
                "sim": probe.window(mark)}
    finally:
        client.close()


# ---- the sync -------------------------------------------------------------------------------
def run_sync(url: str, prefix: str, run_id: str) -> dict:
    from handoff.reverse import sync

    client = netsuite_client()
    try:
        with Timers() as timers:
            t0, w0, cpu0 = time.perf_counter(), time.time(), time.process_time()
            summary = sync(url, client, source="time_entries", schema_prefix=prefix, run_id=run_id)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        client.close()
    posted = sum(summary.get(k, 0) for k in ("created", "updated", "deleted", "recovered"))
    return {"summary": summary, "wall_s": round(wall, 3), "started_at": w0, "ended_at": w0 + wall, "posted": posted,
            "process_cpu_s": round(cpu, 2),
            "timers": timers.report()}


def verify(sims, url: str, prefix: str) -> dict:
    """The simulator's ledger and live timebills against the outbox; the ledger's states."""
    import psycopg

    with psycopg.connect(url) as conn:
        ext_ids = [r[0] for r in conn.execute(f"SELECT external_id FROM {outbox_relation(prefix)}").fetchall()]
        states = dict(conn.execute("SELECT state, count(*) FROM ops.erp_postings GROUP BY 1 ORDER BY 1").fetchall())
        attempts = dict(conn.execute("SELECT attempts, count(*) FROM ops.erp_postings GROUP BY 1 ORDER BY 1")
                        .fetchall())
    ledger = [e for e in sims.ledger() if e.get("record_type") == "timeBill"]
    creates = Counter(e["external_id"] for e in ledger if e["op"] == "create")
    ops = Counter(f"{e['op']}/{e['verb']}" for e in ledger)
    truth = sims.truth("netsuite", "timebill_live")
    live = truth.get("by_external_id", {})
    return {
        "outbox_external_ids": len(ext_ids),
        "sim_ledger_timebill_writes": len(ledger), "sim_ledger_ops": dict(ops),
        "creates_per_external_id_not_1": sum(1 for e in ext_ids if creates[e] != 1),
        "live_records_missing": sum(1 for e in ext_ids if not live.get(e)),
        "live_records_more_than_one": sum(1 for e in ext_ids if len(live.get(e, [])) > 1),
        "truth_duplicates": len(truth.get("duplicates") or []),
        "ledger_states": states, "ledger_attempts": {str(k): v for k, v in attempts.items()},
    }


def duplicates(v: dict) -> int:
    return v["creates_per_external_id_not_1"] + v["live_records_more_than_one"] + v["truth_duplicates"]


def measure_sync(sims, url: str, prefix: str, probe: SimProbe, allowed: float, ceiling: float) -> dict:
    mark = probe.mark()
    with LoadSampler() as load:
        r = run_sync(url, prefix, "bench-reverse-1")
    s, posted = r["summary"], r["posted"]
    sim = probe.window(mark)
    post_s, plan_s = s.get("seconds_post"), s.get("seconds_plan")
    rate_post = posted / post_s if post_s else None
    rate_all = posted / r["wall_s"]
    per_slot_ms = 1000 * s.get("workers", 0) / rate_post if rate_post else None
    erp_ms = sim.get("latency_ms", {}).get("mean")
    return {
        "posted": posted, "workers": s.get("workers"), "outcomes": {k: s[k] for k in (
            "created", "updated", "deleted", "recovered", "retrying", "dead_lettered", "lost_lease", "no_slot")
            if k in s},
        "seconds_plan": plan_s, "seconds_post": post_s, "seconds_sync": s.get("seconds"), "wall_s": r["wall_s"],
        "postings_per_s_post": round(rate_post, 2) if rate_post else None,
        "postings_per_s_whole_sync": round(rate_all, 2),
        "ratio_to_allowed_post": round(rate_post / allowed, 3) if rate_post else None,
        "ratio_to_allowed_whole_sync": round(rate_all / allowed, 3),
        "ratio_to_ceiling_post": round(rate_post / ceiling, 3) if rate_post and ceiling else None,
        "client_requests": s.get("requests"), "client_retries": s.get("retries"),
        "sim_requests": sim.get("requests"), "http_429": sim.get("http_429", 0),
        "requests_per_posting": round(sim["requests"] / posted, 3) if posted else None,
        "ms_per_posting_per_slot": round(per_slot_ms, 1) if per_slot_ms else None,
        "ms_erp_per_request": erp_ms,
        "ms_client_per_posting": round(per_slot_ms - erp_ms, 1) if per_slot_ms and erp_ms else None,
        "time_split": time_split(r["timers"], s, sim), "timers": r["timers"],
        "sim": sim, "load": load.summary(), "summary": s,
    }


def time_split(timers: dict, s: dict, sim: dict) -> dict:
    """The posting phase's slot-seconds (workers x seconds_post) split into the ERP's own time, the
    HTTP client around it, the rest of `send`, and time outside `send` (waiting for a claim's
    answer or a slot, the loop); the database threads' busy share; the planning steps."""
    def sec(label):
        return timers.get(label, {}).get("seconds", 0.0)

    slot = (s.get("workers") or 0) * (s.get("seconds_post") or 0)
    erp = sim.get("timed_seconds", 0.0)
    send, http = sec("post: engine.send"), sec("post: Client.send (HTTP)")
    db = sec("post: ledger.claim (db thread)") + sec("post: engine.record (db thread)")
    if not slot:
        return {}
    return {"slot_seconds": round(slot, 1),
            "erp_share": round(erp / slot, 3), "http_client_share": round((http - erp) / slot, 3),
            "send_outside_http_share": round((send - http) / slot, 3),
            "outside_send_share": round((slot - send) / slot, 3),
            "db_threads_busy_share": round(db / slot, 3),
            "plan_steps_s": {k.removeprefix("plan: "): v["seconds"] for k, v in timers.items()
                             if k.startswith("plan: ")}}


def measure_concurrent(sims, url: str, prefix: str, probe: SimProbe, n: int, allowed: float) -> dict:
    """Two syncs at once, each in its own process (as two DAG tasks or runs would be)."""
    moved = refill_outbox(url, prefix, n)
    mark = probe.mark()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-sync", url, "--prefix", prefix]
    with LoadSampler() as load:
        procs = [subprocess.Popen([*cmd, "--run-id", f"bench-reverse-2{c}"], stdout=subprocess.PIPE, text=True)
                 for c in "ab"]
        outs = [p.communicate(timeout=3600)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a concurrent sync failed: rc {[p.returncode for p in procs]}")
    runs = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    posted = sum(r["posted"] for r in runs)
    post_start = min(r["started_at"] + (r["summary"].get("seconds_plan") or 0) for r in runs)
    post_end = max(r["ended_at"] for r in runs)
    sim = probe.window(mark)
    rate = posted / (post_end - post_start)
    return {"outbox_rows_added": moved, "posted": posted, "posting_window_s": round(post_end - post_start, 3),
            "postings_per_s_post": round(rate, 2), "ratio_to_allowed_post": round(rate / allowed, 3),
            "http_429": sim.get("http_429", 0), "sim_requests": sim.get("requests"),
            "requests_per_posting": round(sim["requests"] / posted, 3) if posted else None,
            "runs": [{k: r["summary"].get(k) for k in ("run_id", "planned", "inserted", "workers", "created",
                                                       "recovered", "lost_lease", "no_slot", "requests", "retries",
                                                       "seconds_plan", "seconds_post", "seconds")}
                     | {"posted": r["posted"], "process_cpu_s": r["process_cpu_s"], "timers": r["timers"]}
                     for r in runs],
            "sim": sim, "load": load.summary()}


# ---- report -----------------------------------------------------------------------------------
def evaluate(res: dict) -> list[dict]:
    s, v = res["sync"], res["verify"]
    out = [{"target": f"postings/s over the posting phase >= {TARGET_RATIO} x {res['allowed_per_s']:g}/s",
            "value": s["ratio_to_allowed_post"], "met": (s["ratio_to_allowed_post"] or 0) >= TARGET_RATIO},
           {"target": "duplicates in the simulator (creates per external id != 1, > 1 live record)",
            "value": duplicates(v), "met": duplicates(v) == 0},
           {"target": "every outbox entry posted (one live record each)", "value": v["live_records_missing"],
            "met": v["live_records_missing"] == 0},
           {"target": "postings/s over the whole sync (plan + post), informative",
            "value": s["ratio_to_allowed_whole_sync"], "met": None}]
    c = res.get("concurrent")
    if c:
        cv = c["verify"]
        out += [{"target": "two syncs at once: no 429", "value": c["http_429"], "met": c["http_429"] == 0},
                {"target": "two syncs at once: no duplicates, all posted", "value": duplicates(cv),
                 "met": duplicates(cv) == 0 and cv["live_records_missing"] == 0},
                {"target": f"two syncs at once: total rate >= {TARGET_RATIO} x allowed",
                 "value": c["ratio_to_allowed_post"], "met": c["ratio_to_allowed_post"] >= TARGET_RATIO}]
    return out


def render_markdown(res: dict) -> str:
    m, w, o, s, v, c = res["machine"], res["world"], res["outbox"], res["sync"], res["verify"], res["ceiling"]
    lines = [
        "# Reverse sync benchmark: approved time posted to NetSuite",
        "",
        f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, PostgreSQL {m['postgres']}; {m['date']}; "
        f"load average {m['loadavg_start']} at start, {m.get('loadavg_end')} at end (the machine is shared). "
        f"Checkout at {res['provenance']['commit'][:10]} ({res['provenance']['engine_uncommitted_files']} uncommitted "
        "files under include/handoff/reverse, connectors; dbt_project as committed).",
        "",
        f"World {w['scale']} (seed {SEED}, {w['time_entries']:,} time entries); outbox built "
        f"{o['outbox_rows_built']:,} rows, {o['postable_built']:,} postable; kept exactly {o['kept_postable']:,} "
        f"postable (tran dates {o['kept_tran_dates'][0]} .. {o['kept_tran_dates'][1]}), blocked rows deleted. "
        f"ERP: every request sleeps {res['slow_s']:g} s, {res['limit']} in flight: at most "
        f"**{res['allowed_per_s']:g} postings/s**.",
        "",
        "| | value |",
        "|---|---:|",
        f"| ceiling: {c['threads']} threads × `GET currency/1`, {c['seconds']:.1f} s | {c['requests_per_s']:.2f} req/s "
        f"({c['sim'].get('http_429', 0)} × 429, ERP latency {c['sim']['latency_ms']['mean']} ms) |",
        f"| postings | {s['posted']:,} ({', '.join(f'{k} {n:,}' for k, n in s['outcomes'].items())}) |",
        f"| workers | {s['workers']} |",
        f"| plan s / post s / whole sync s | {s['seconds_plan']} / {s['seconds_post']} / {s['wall_s']} |",
        f"| **postings/s (posting phase)** | **{s['postings_per_s_post']}** |",
        f"| ratio to {res['allowed_per_s']:g}/s (target ≥ {TARGET_RATIO}) | **{s['ratio_to_allowed_post']}** |",
        f"| ratio to the ceiling | {s['ratio_to_ceiling_post']} |",
        f"| postings/s (whole sync incl. planning) / ratio | {s['postings_per_s_whole_sync']} / "
        f"{s['ratio_to_allowed_whole_sync']} |",
        f"| requests per posting (simulator) | {s['requests_per_posting']} ({s['sim_requests']:,} requests) |",
        f"| retries (client) / 429s (simulator) | {s['client_retries']} / {s['http_429']} |",
        f"| per posting per slot: total / ERP / client side (ms) | {s['ms_per_posting_per_slot']} / "
        f"{s['ms_erp_per_request']} / {s['ms_client_per_posting']} |",
        f"| mean requests in flight at the ERP | {s['sim'].get('mean_in_flight')} |",
        f"| duplicates (creates ≠ 1 / live > 1 / truth) | {v['creates_per_external_id_not_1']} / "
        f"{v['live_records_more_than_one']} / {v['truth_duplicates']} |",
        f"| outbox entries without a live record | {v['live_records_missing']} |",
        f"| ledger states | {', '.join(f'{k} {n:,}' for k, n in v['ledger_states'].items())} |",
        f"| load average during the sync (mean / max), bench process CPU (cores) | "
        f"{s['load'].get('loadavg_1m_mean')} / {s['load'].get('loadavg_1m_max')}, "
        f"{s['load'].get('process_cpu_cores_mean')} |",
    ]
    ts = s.get("time_split") or {}
    if ts:
        lines += [
            "",
            f"Where the posting phase's {ts['slot_seconds']:,} slot-seconds ({s['workers']} workers x "
            f"{s['seconds_post']} s) go: the ERP's own time {ts['erp_share']:.1%}, the HTTP client around it "
            f"{ts['http_client_share']:.1%}, the rest of `send` {ts['send_outside_http_share']:.1%}, outside `send` "
            f"(claim answers, slots, the loop) {ts['outside_send_share']:.1%}; the workers' database threads "
            f"were busy {ts['db_threads_busy_share']:.1%} of it. Planning ({s['seconds_plan']} s): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in ts["plan_steps_s"].items()) + ".",
            "",
            "| engine function | calls | s | ms per call |",
            "|---|---:|---:|---:|",
            *[f"| {k} | {v['calls']:,} | {v['seconds']:,.2f} | {v['ms_per_call']} |" for k, v in s["timers"].items()],
        ]
    cc = res.get("concurrent")
    if cc:
        lines += [
            "",
            f"Two syncs at once (two processes, {cc['outbox_rows_added']:,} more postable rows in the outbox):",
            "",
            "| | value |",
            "|---|---:|",
            f"| postings | {cc['posted']:,} ({' + '.join(str(r['posted']) for r in cc['runs'])}) |",
            f"| workers | {' + '.join(str(r['workers']) for r in cc['runs'])} |",
            f"| process CPU s (each sync) | {' + '.join(str(r['process_cpu_s']) for r in cc['runs'])} |",
            f"| slot probes (`pg_try_advisory_lock` rounds of up to {res['limit']}) | "
            f"{' + '.join(str(r['timers'].get('post: limiter.try_acquire (up to N probes)', {}).get('calls', 0)) for r in cc['runs'])} |",
            f"| postings/s (union of the posting phases, {cc['posting_window_s']} s) | {cc['postings_per_s_post']} |",
            f"| ratio to {res['allowed_per_s']:g}/s | {cc['ratio_to_allowed_post']} |",
            f"| 429s (simulator) / retries (clients) | {cc['http_429']} / "
            f"{sum(r['retries'] or 0 for r in cc['runs'])} |",
            f"| requests per posting | {cc['requests_per_posting']} |",
            f"| mean requests in flight at the ERP | {cc['sim'].get('mean_in_flight')} |",
            f"| duplicates / missing | {duplicates(cc['verify'])} / {cc['verify']['live_records_missing']} |",
            f"| ledger states | {', '.join(f'{k} {n:,}' for k, n in cc['verify']['ledger_states'].items())} |",
            f"| load average (mean / max) | {cc['load'].get('loadavg_1m_mean')} / {cc['load'].get('loadavg_1m_max')} |",
            "",
            f"ERP latency (simulator, mean / p99): {cc['sim'].get('latency_ms', {}).get('mean')} / "
            f"{cc['sim'].get('latency_ms', {}).get('p99')} ms. A worker holds its limiter slot for its whole life "
            "(never more than 15 requests in flight between the two processes)"
            + ("; here one process's workers took the slots first and posted everything, the other's waited for a "
               "slot and found nothing left to claim." if any(r["posted"] == 0 for r in cc["runs"]) else "."),
        ]
    lines += ["", "Targets:", ""]
    for t in res["targets"]:
        state = {True: "met", False: "NOT met", None: "informative"}[t["met"]]
        lines.append(f"- {t['target']}: {t['value']}: **{state}**")
    lines += [
        "",
        "Postings/s (posting phase) = postings / the engine's `seconds_post` (claim, send, record; "
        "workers holding the limiter's slots); whole sync = postings / wall seconds of `sync()` "
        "(reading the outbox, planning, inserting the ledger rows, posting). Ceiling: the cheapest "
        "authenticated request from as many threads as the ERP allows in flight, through the same client "
        "class. Per posting per slot = workers / rate; ERP = the simulator's own time per request "
        "(arrival to answer ready, incl. the sleep); client side = the rest (HTTP client, the ledger's "
        "statements not overlapped with the request, thread hand-offs, GIL, a busy machine).",
        "",
    ]
    if res.get("notes"):
        lines += [*[f"- {n}" for n in res["notes"]], ""]
    return "\n".join(lines)


def child_sync(url: str, prefix: str, run_id: str) -> None:
    import logging

    logging.getLogger("handoff").setLevel(logging.WARNING)
    r = run_sync(url, prefix, run_id)
    print(json.dumps(r, default=str))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="bench:150000", help="world size (handoff.sim.scale)")
    ap.add_argument("--postings", type=int, default=10_000, help="postable outbox rows to post")
    ap.add_argument("--slow", type=float, default=0.2, help="seconds every NetSuite request takes")
    ap.add_argument("--limit", type=int, default=15, help="NetSuite's concurrency limit")
    ap.add_argument("--ceiling-seconds", type=float, default=10.0)
    ap.add_argument("--concurrent", action="store_true", help="then two syncs at once in two processes")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("--render", action="store_true", help="only rewrite <out>.md from <out> (e.g. after adding notes)")
    ap.add_argument("--child-sync", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", default="bench_", help=argparse.SUPPRESS)
    ap.add_argument("--run-id", default="bench-reverse", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_sync:
        child_sync(a.child_sync, a.prefix, a.run_id)
        return 0
    if a.render:
        Path(a.out).with_suffix(".md").write_text(render_markdown(json.loads(Path(a.out).read_text())))
        return 0

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    bd = _bench_dbt()
    workdir = Path(tempfile.mkdtemp(prefix="handoff-bench-reverse-"))
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow")
    cluster = None
    try:
        with contextlib.ExitStack() as stack:
            project, provenance = snapshot_project(workdir)
            cluster = bd.start_postgres(workdir)
            prefix = bd.SCHEMA_PREFIX
            res: dict = {"seed": SEED, "slow_s": a.slow, "limit": a.limit, "allowed_per_s": a.limit / a.slow,
                         "schema_prefix": prefix, "provenance": provenance, "machine": bd.machine_info(cluster)}
            print(f"[{datetime.now(UTC):%H:%M:%S}] world {a.scale} ...", flush=True)
            sims, url, res["world"] = load_world(cluster, a.scale, stack)
            print(f"  {res['world']}", flush=True)
            dbt = bd.Dbt(cluster, DB, workdir, project)
            res["dbt_build"] = {k: v for k, v in dbt(*BUILD, label="outbox").items() if k != "slowest"}
            print(f"  dbt build {res['dbt_build']['seconds']} s rc {res['dbt_build']['rc']}", flush=True)
            if res["dbt_build"]["rc"] != 0:
                raise RuntimeError(f"dbt build failed: {res['dbt_build'].get('log_tail')}")
            res["outbox"] = trim_outbox(url, prefix, a.postings)
            print(f"  outbox {res['outbox']}", flush=True)

            server = sims.servers["netsuite"]
            probe = SimProbe(server)
            sims.set_faults("netsuite", {"slow": 1.0, "slow_seconds": a.slow, "concurrency_limit": a.limit})
            res["ceiling"] = measure_ceiling(a.limit, a.ceiling_seconds, probe)
            print(f"  ceiling {res['ceiling']['requests_per_s']} req/s", flush=True)
            res["sync"] = measure_sync(sims, url, prefix, probe, res["allowed_per_s"],
                                       res["ceiling"]["requests_per_s"])
            res["verify"] = verify(sims, url, prefix)
            print(f"  sync {res['sync']['postings_per_s_post']} postings/s, ratio "
                  f"{res['sync']['ratio_to_allowed_post']}; {res['verify']}", flush=True)
            if a.concurrent:
                res["concurrent"] = measure_concurrent(sims, url, prefix, probe, a.postings, res["allowed_per_s"])
                res["concurrent"]["verify"] = verify(sims, url, prefix)
                print(f"  concurrent {res['concurrent']['postings_per_s_post']} postings/s, "
                      f"{res['concurrent']['http_429']} x 429", flush=True)
        res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        res["targets"] = evaluate(res)
        bd.write_results(Path(a.out), res, render_markdown(res))
        return 0
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

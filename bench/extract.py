"""Extract benchmark: Kantata time entries, simulator → Postgres; Handoff, dlt and a pipelined baseline.

    python bench/extract.py [--entries 1000000] [--runs 3] [--dlt-python .local/bench-dlt/bin/python]

Contenders (each run of each contender is a fresh child process against a fresh database):
- handoff: the production code path, one scheduled run of the `extract_kantata` time-entries task
  (client, verified page walk, validation, COPY + merge into raw_kantata.time_entries, cursor and
  run log in the same transactions) with the production settings (`runtime_settings()` defaults:
  look-back 600 s, delete reconciliation every 15 minutes).
- dlt_insert_values / dlt_csv: dlt 1.31 `rest_api` in its own virtualenv (bench/extract_dlt.py),
  merge on `id` (the first load appends into the empty table: dlt's fastest first load),
  incremental on `updated_at`; its default loader and its fastest Postgres loader.
- baseline: a pipelined fetch+parse+COPY loop (a fetch thread, parsing, a COPY writer thread,
  overlapped) into a plain (id, payload) table: no validation, no merge, no state. First load only.

Phases, per run (the simulator's world is generated once and shared; it is back to that state at
the start of every run):
1. first_load: everything into an empty table.
2. idle_minute: the next scheduled run, nothing changed since. It follows the first load, so the
   newest changes in the source are the generated world's own (a weekly submission: many
   entries share the newest `updated_at`), not the bench's 1% edit. Handoff's delete
   reconciliation is not due (every 15 minutes): it runs only in
3. reconcile (Handoff only): the same scheduled run with reconcile_every=0, the run that every
   15 minutes also lists every live id to find hard deletes.
4. incremental_1pct: 1% of the entries are edited in the simulator (its own process, `touch` on its
   control protocol: half an hour more, a new `updated_at` after every existing one), then every
   stateful contender runs once; each target must then hold exactly the new versions (rows at the
   new `updated_at` = number touched, their minutes summing to the simulator's sum). Records/s here
   counts the changed records.
Everyone lists the same set (bench/extract_common.py LIST_PARAMS: ascending `updated_at`, entries of
archived workspaces included, as Handoff's stream asks) at 200 per page.
Contender order rotates between runs (run i starts with contender i mod n). Every child first
fetches one untimed page (bench/extract_common.py `Measure`), then its clock starts; requests are
counted by the simulator. Results: a markdown table on stdout and in <out>.md, everything in
<out> (JSON; default bench/results/extract.json).

Postgres: `HANDOFF_WAREHOUSE_URL` (a role with CREATEDB), else a private cluster started with
`handoff.platform.postgres`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import queue
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_common import LIST_PARAMS, PER_PAGE, TIME_ENTRIES, Measure, credentials, emit, warm_up  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "extract.json"
SEED = 7

CONTENDERS = {  # key: (label, kind, dlt loader format)
    "handoff": ("Handoff", "handoff", None),
    "dlt_insert_values": ("dlt, insert_values (default)", "dlt", "insert_values"),
    "dlt_csv": ("dlt, csv (fastest)", "dlt", "csv"),
    "baseline": ("pipelined fetch+parse+COPY baseline", "baseline", None),
}
PHASES = {
    "first_load": "first load (empty table)",
    "idle_minute": "idle minute (nothing changed)",
    "reconcile": "idle minute + delete reconciliation (every 15 min)",
    "incremental_1pct": "incremental, 1% changed",
}
STATEFUL = ("handoff", "dlt_insert_values", "dlt_csv")


# ---- Handoff: every call into the package, one function per concern --------------------------
def handoff_run(sim_url: str, db_url: str, measure: Measure, reconcile_now: bool = False) -> dict:
    """One scheduled run of extract_kantata's time_entries task, production settings. The same call
    serves every phase: the first run finds no cursor and reads everything."""
    from dataclasses import replace
    from datetime import timedelta

    import psycopg

    from handoff.extract.dag_factory import runtime_settings
    from handoff.extract.runner import StreamRunner
    from handoff.extract.sources import get_source
    from handoff.platform.connections import connection_env

    cid, secret = credentials()
    os.environ.update(connection_env({"kantata": sim_url}, cid, secret, db_url))
    settings = runtime_settings()
    if reconcile_now:
        settings = replace(settings, reconcile_every=timedelta(0))
    source = get_source("kantata")
    with measure:
        client = source.client()
        try:
            with psycopg.connect(db_url) as conn:
                r = StreamRunner(source.stream("time_entries"), client, conn, settings).run()
        finally:
            client.close()
    own = {k: getattr(r, k, None) for k in ("pages", "changed", "rejects", "deletes", "retries", "requests", "swept")}
    return {"records": r.records, "handoff": own, "settings": {k: str(v) for k, v in vars(settings).items()}}


# The targets' tables: (FROM clause of the live rows, id, modification time, minutes).
TARGET_SQL = {
    "handoff": ("raw_kantata.time_entries WHERE NOT is_deleted", "source_id", "source_modified_at",
                "(payload->>'time_in_minutes')::bigint"),
    "dlt": ("dlt_kantata.time_entries", "id", "updated_at", "time_in_minutes"),
    "baseline": ("baseline_time_entries", "id", "(payload->>'updated_at')::timestamptz",
                 "(payload->>'time_in_minutes')::bigint"),
}


def start_postgres(workdir: Path):
    """A private cluster (handoff.platform.postgres); returns (cluster, superuser URL)."""
    from handoff.platform.postgres import LocalPostgres, free_port

    cluster = LocalPostgres(root=workdir / "pg", port=free_port())
    cluster.init()
    cluster.start()
    return cluster, cluster.url("postgres")


# ---- the simulator's process ----------------------------------------------------------------
def touch_time_entries(world, share: float) -> tuple[tuple, dict]:
    """Edit `share` of the live Kantata time entries as a user would in Kantata: half an hour more,
    stamped with one new updated_at after every existing version (the world's `now`). The rows are
    drawn deterministically from the seed. Returns (undo, summary). The only bench code that knows
    the simulator's internals (handoff.sim.world.World.te: numpy columns, see sim/timeentries.py)."""
    import numpy as np

    te = world.te
    with world.lock:
        live = np.nonzero(te.alive)[0]
        k = max(1, round(len(live) * share))
        rows = np.sort(np.random.default_rng([world.seed, 1]).choice(live, k, replace=False))
        undo = (rows, te.minutes[rows].copy(), te.updated[rows].copy())
        stamp = max(int(te.updated.max()) + 1, int(world.now))
        te.minutes[rows] += 30
        te.updated[rows] = stamp
        minutes_sum = int(te.minutes[rows].astype(np.int64).sum())
        world.version += 1
        te.touched()  # drops the cached query results
    return undo, {"touched": int(k), "live": int(len(live)), "minutes_sum": minutes_sum,
                  "updated_at": datetime.fromtimestamp(stamp, UTC).isoformat()}


def untouch_time_entries(world, undo: tuple) -> int:
    """Put the touched entries back as generated (the next run starts from the same world)."""
    rows, minutes, updated = undo
    te = world.te
    with world.lock:
        te.minutes[rows] = minutes
        te.updated[rows] = updated
        world.version += 1
        te.touched()
    return len(rows)


def serve(entries: int) -> None:
    """The simulator, in its own process. Control protocol, one line each way on stdin/stdout:
    `touch <share>` → `ok <n> <json summary>`; `reset` → `ok <n>`; `quit` (or EOF) stops it."""
    from handoff.sim import SimCluster, SimCredentials

    t = time.perf_counter()
    cluster = SimCluster(seed=SEED, scale=f"bench:{entries}", systems=("kantata",),
                         credentials=SimCredentials(*credentials()))
    cluster.start()
    print(json.dumps({"url": cluster.url("kantata"), "generate_s": round(time.perf_counter() - t, 2)}), flush=True)
    undo = None
    try:
        for line in sys.stdin:
            cmd, *args = line.split()
            try:
                if cmd == "touch":
                    if undo is not None:
                        untouch_time_entries(cluster.world, undo)
                    undo, summary = touch_time_entries(cluster.world, float(args[0]))
                    print(f"ok {summary['touched']} {json.dumps(summary)}", flush=True)
                elif cmd == "reset":
                    n = untouch_time_entries(cluster.world, undo) if undo is not None else 0
                    undo = None
                    print(f"ok {n}", flush=True)
                elif cmd == "quit":
                    break
                else:
                    print(f"error unknown command {cmd!r}", flush=True)
            except Exception as exc:  # answer, so the parent never waits forever
                print(f"error {type(exc).__name__}: {exc}", flush=True)
    finally:
        cluster.stop()


class Simulator:
    """A simulator child process (`script --child serve ...`) and its line protocol; `info` is the
    JSON line it prints once serving."""

    def __init__(self, entries: int, env: dict, script: str = __file__, args: tuple[str, ...] = ()):
        self.proc = subprocess.Popen([sys.executable, script, "--child", "serve", "--entries", str(entries), *args],
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start (see its stderr above)")
        self.info = json.loads(line)
        self.url, self.generate_s = self.info.get("url"), self.info.get("generate_s")

    def ask(self, command: str) -> tuple[int, dict]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply.startswith("ok "):
            raise RuntimeError(f"simulator: {command!r} -> {reply!r}")
        _, n, *rest = reply.split(" ", 2)
        return int(n), (json.loads(rest[0]) if rest else {})

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


# ---- the pipelined baseline -------------------------------------------------------------------
def baseline_load(sim_url: str, db_url: str, measure: Measure) -> dict:
    """Fetch (thread) → parse (this thread) → COPY (writer thread), overlapped through two bounded
    queues; one COPY of (id, payload) into a plain table in one transaction. Nothing else."""
    import msgspec
    import psycopg
    import requests

    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    done = object()
    bodies: queue.Queue = queue.Queue(maxsize=4)
    chunks: queue.Queue = queue.Queue(maxsize=4)
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            s = requests.Session()
            cid, secret = credentials()
            tok = s.post(f"{sim_url}/oauth/token", data={"grant_type": "client_credentials", "client_id": cid,
                                                         "client_secret": secret}).json()["access_token"]
            s.headers["Authorization"] = f"Bearer {tok}"
            page, pages = 1, 1
            while page <= pages:
                r = s.get(f"{sim_url}{TIME_ENTRIES}", params={"per_page": PER_PAGE, "page": page, **LIST_PARAMS})
                r.raise_for_status()
                if page == 1:
                    pages = decode(r.content)["meta"]["page_count"]
                bodies.put(r.content)
                page += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            bodies.put(done)

    def write(conn) -> None:
        try:
            with conn.cursor() as cur, cur.copy("COPY baseline_time_entries (id, payload) FROM STDIN") as cp:
                while (chunk := chunks.get()) is not done:
                    cp.write(chunk)
        except BaseException as exc:
            errors.append(exc)
            while chunks.get() is not done:  # drain so the parser never blocks
                pass

    n = 0
    with measure:
        with psycopg.connect(db_url) as conn:
            # keyed like every raw table: exactly-once needs a key, and its index costs the same for all
            conn.execute("CREATE TABLE baseline_time_entries (id text PRIMARY KEY, payload jsonb)")
            fetcher = threading.Thread(target=fetch, daemon=True)
            writer = threading.Thread(target=write, args=(conn,), daemon=True)
            fetcher.start()
            writer.start()
            while (body := bodies.get()) is not done:
                page = decode(body)
                objs = page["time_entries"]
                chunks.put("".join(f"{r['id']}\t{encode(objs[r['id']]).decode().replace(chr(92), chr(92) * 2)}\n"
                                   for r in page["results"]))
                n += len(page["results"])
            chunks.put(done)
            writer.join()
            fetcher.join()
            if errors:
                raise errors[0]
            conn.commit()
    return {"records": n}


def child(kind: str, sim_url: str, db_url: str, phase: str) -> None:
    measure = Measure(sim_url)
    if kind == "handoff":
        out = handoff_run(sim_url, db_url, measure, reconcile_now=phase == "reconcile")
    else:
        out = baseline_load(sim_url, db_url, measure)
    emit(out, measure)


# ---- parent ----------------------------------------------------------------------------------
def _run_child(cmd: list[str], env: dict, timeout: float) -> dict:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stdout[-1500:]}\n"
                           f"{proc.stderr[-3000:]}")
    out = json.loads(lines[-1].removeprefix("RESULT "))
    out["process_s"] = round(time.perf_counter() - t, 2)  # the whole child: interpreter, imports, warm-up
    if os.environ.get("BENCH_LOG_DIR"):  # each child's whole log, for a closer look
        log_dir = Path(os.environ["BENCH_LOG_DIR"])
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"child-{time.time_ns()}.log").write_text(proc.stdout + proc.stderr)
    warnings = [ln[-300:] for ln in (proc.stderr + proc.stdout).splitlines()
                if "warning" in ln.lower() or "retry" in ln.lower()]
    if warnings:
        out["warnings"] = warnings[-20:]
    return out


def _with_db(url: str, dbname: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, f"/{dbname}", p.query, p.fragment))


def _dlt_url(url: str) -> str:
    """dlt insists on a password; trust-auth clusters ignore it."""
    p = urlsplit(url)
    if p.password is None and p.username:
        host = p.netloc.split("@", 1)[1]
        return urlunsplit((p.scheme, f"{p.username}:unused@{host}", p.path, p.query, p.fragment))
    return url


def rotate(items: list[str], i: int) -> list[str]:
    k = i % len(items) if items else 0
    return items[k:] + items[:k]


def check_target(conn, kind: str, live: int, touch: dict | None) -> dict:
    """What the target holds: live rows, distinct ids and, after the edit, the rows at the new
    version. ok = every live entry exactly once (and every touched one in its new version)."""
    from datetime import datetime as dt

    frm, idc, modc, minc = TARGET_SQL[kind]
    stamp = dt.fromisoformat(touch["updated_at"]) if touch else None
    rows, ids, at_new, minutes = conn.execute(
        f"SELECT count(*), count(DISTINCT {idc}), count(*) FILTER (WHERE {modc} = %(s)s),"  # noqa: S608
        f" coalesce(sum({minc}) FILTER (WHERE {modc} = %(s)s), 0) FROM {frm}", {"s": stamp}).fetchone()
    out = {"rows": rows, "distinct_ids": ids, "expected_rows": live}
    ok = rows == ids == live
    if touch:
        out.update(new_versions=at_new, touched=touch["touched"], minutes_sum=int(minutes),
                   expected_minutes_sum=touch["minutes_sum"])
        ok = ok and at_new == touch["touched"] and int(minutes) == touch["minutes_sum"]
    out["ok"] = ok
    return out


def summarize(runs: list[dict]) -> dict:
    keys = ("records_per_s", "seconds", "requests", "peak_rss_mb", "records")
    out: dict = {"median": {}, "min": {}, "max": {}}
    for k in keys:
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            med = statistics.median(vals)
            out["median"][k] = round(med, 3) if isinstance(med, float) else med
            out["min"][k], out["max"][k] = min(vals), max(vals)
    out["runs"] = runs
    return out


def machine_info(base_url: str) -> dict:
    import psycopg

    with psycopg.connect(base_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "cpu": cpu, "mem_mb": mem,
            "python": platform.python_version(), "postgres": pg, "platform": platform.platform(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def _fmt(v, decimals: int = 2) -> str:
    """Counts and rates as integers with thousands separators; small fractional values (seconds,
    ratios) with `decimals`."""
    if v is None:
        return "–"
    if isinstance(v, float) and v < 100 and not v.is_integer():
        return f"{v:.{decimals}f}"
    return f"{round(v):,}"


def evaluate_targets(phases: dict) -> list[dict]:
    def med(phase, c, k):
        return phases.get(phase, {}).get(c, {}).get("median", {}).get(k)

    def best_dlt(phase):
        cands = [(med(phase, c, "records_per_s"), c) for c in ("dlt_insert_values", "dlt_csv")
                 if med(phase, c, "records_per_s")]
        return max(cands) if cands else (None, None)

    targets = []

    def ratio(name, a, b, minimum, vs):
        value = round(a / b, 2) if a and b else None
        targets.append({"target": name, "value": value, "min": minimum, "vs": vs,
                        "met": None if value is None else value >= minimum})

    h_load = med("first_load", "handoff", "records_per_s")
    dlt_load, dlt_load_c = best_dlt("first_load")
    ratio("first load: Handoff / dlt's fastest loader >= 3", h_load, dlt_load, 3.0, dlt_load_c)
    ratio("first load: Handoff / pipelined baseline >= 0.8", h_load, med("first_load", "baseline", "records_per_s"),
          0.8, "baseline")
    dlt_inc, dlt_inc_c = best_dlt("incremental_1pct")
    ratio("incremental 1%: Handoff / dlt's fastest >= 3", med("incremental_1pct", "handoff", "records_per_s"),
          dlt_inc, 3.0, dlt_inc_c)
    idle_s, idle_req = med("idle_minute", "handoff", "seconds"), med("idle_minute", "handoff", "requests")
    targets.append({"target": "idle minute: Handoff < 1 s", "value": idle_s, "max": 1.0,
                    "met": None if idle_s is None else idle_s < 1.0})
    targets.append({"target": "idle minute: Handoff <= 10 requests", "value": idle_req, "max": 10,
                    "met": None if idle_req is None else idle_req <= 10})
    rss = [r["max"].get("peak_rss_mb") for r in (phases[p].get("handoff") for p in phases) if r]
    rss = max((x for x in rss if x is not None), default=None)
    targets.append({"target": "Handoff peak RSS < 300 MB (any phase)", "value": rss, "max": 300,
                    "met": None if rss is None else rss < 300})
    return targets


def render_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [
        f"# Extract benchmark: {res['live_entries']:,} Kantata time entries, simulator → Postgres",
        "",
        f"{res['runs']} run(s) per contender and phase: median and range (min–max); order rotated between runs. "
        f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, PostgreSQL {m['postgres']}, "
        f"dlt {res.get('dlt_version') or '–'}; {m['date']}, load average {m['loadavg_start']} at start.",
        "",
        "| contender | phase | records/s (median) | records/s range | seconds (median) | seconds range "
        "| requests | records read | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, label in PHASES.items():
        for c, row in res["phases"].get(phase, {}).items():
            md, lo, hi = row["median"], row["min"], row["max"]
            rng = (f"{_fmt(lo.get('records_per_s'))}–{_fmt(hi.get('records_per_s'))}"
                   if md.get("records_per_s") else "–")
            lines.append(
                f"| {CONTENDERS[c][0]} | {label} | {_fmt(md.get('records_per_s'))} | {rng} "
                f"| {_fmt(md.get('seconds'))} | {_fmt(lo.get('seconds'))}–{_fmt(hi.get('seconds'))} "
                f"| {_fmt(md.get('requests'), 1)} | {_fmt(md.get('records'), 1)} | {_fmt(hi.get('peak_rss_mb'), 0)} |")
    lines += ["", "Targets:", ""]
    for t in res["targets"]:
        state = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        vs = f" (vs {CONTENDERS[t['vs']][0]})" if t.get("vs") else ""
        lines.append(f"- {t['target']}: {_fmt(t['value'])}{vs}: **{state}**")
    lines += [
        "",
        "Records/s: first load = live entries landed / wall seconds; incremental = entries changed "
        f"({res.get('touched', '–'):,} = {res['touch_share']:.0%}) / wall seconds. \"records read\" is what the "
        "contender itself reports (Handoff re-reads its look-back window). Requests include the token request "
        "each fresh process makes. Wall seconds start after imports and one untimed warm-up page fetch, and "
        "include connecting, authenticating, every request and every commit.",
        "",
        "Idle minute: the run after the first load, nothing changed in between; Handoff with its production "
        "settings (look-back 600 s; delete reconciliation every 15 minutes, measured in its own row). dlt's "
        "incremental reads strictly after its last value, with no look-back (lag). Process start and imports "
        "are not in the seconds (`process_s` in the JSON has the whole child process).",
        "",
        f"Verification: {'every target held exactly the source after each phase' if res['verified'] else 'FAILED, see extract.json'}.",
        "",
    ]
    busy = max((r.get("loadavg_1m") or 0) for ph in res["phases"].values() for c in ph.values() for r in c["runs"])
    if busy > m["nproc"]:
        lines += [f"**The machine was busy**: 1-minute load average up to {busy} on {m['nproc']} CPUs during the "
                  "runs; figures are noisy (compare the ranges).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--touch-share", type=float, default=0.01, help="share of entries changed before the incremental")
    ap.add_argument("--dlt-python", default=str(REPO / ".local" / "bench-dlt" / "bin" / "python"))
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--out", default=str(RESULTS), help="JSON results; the markdown table goes beside it (.md)")
    ap.add_argument("--child", choices=["serve", "handoff", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="scheduled", help=argparse.SUPPRESS)
    ap.add_argument("--sim-url", help=argparse.SUPPRESS)
    ap.add_argument("--db-url", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child == "serve":
        serve(a.entries)
        return 0
    if a.child:
        child(a.child, a.sim_url, a.db_url, a.phase)
        return 0

    import psycopg

    contenders = list(CONTENDERS)
    if a.skip_dlt:
        contenders = [c for c in contenders if CONTENDERS[c][1] != "dlt"]
    elif not Path(a.dlt_python).exists():
        raise SystemExit(f"{a.dlt_python} missing: run `make bench-extract` (it creates the dlt venv) or --skip-dlt")
    stateful = [c for c in STATEFUL if c in contenders]

    workdir = Path(tempfile.mkdtemp(prefix="handoff-bench-extract-"))
    spec = importlib.util.find_spec("handoff")  # children import the same package as this process
    include = str(Path(next(iter(spec.submodule_search_locations))).parent) if spec else str(REPO / "include")
    env = dict(os.environ, BENCH_CLIENT_ID="bench-" + secrets.token_hex(4), BENCH_CLIENT_SECRET=secrets.token_hex(16),
               PYTHONPATH=include, AIRFLOW_HOME=str(workdir / "airflow"))
    denv = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    denv.update(RUNTIME__LOG_LEVEL="WARNING", RUNTIME__DLTHUB_TELEMETRY="false")
    cluster = sim = None
    base_url = os.environ.get("HANDOFF_WAREHOUSE_URL")
    failures: list[str] = []
    try:
        if not base_url:
            cluster, base_url = start_postgres(workdir)
        print(f"starting the Kantata simulator with {a.entries:,} time entries ...", flush=True)
        sim = Simulator(a.entries, env)
        os.environ.update(BENCH_CLIENT_ID=env["BENCH_CLIENT_ID"], BENCH_CLIENT_SECRET=env["BENCH_CLIENT_SECRET"])
        live = warm_up(sim.url)  # also sorts the world once before anyone is timed
        print(f"  simulator at {sim.url}, generated in {sim.generate_s} s, {live:,} live entries", flush=True)
        res: dict = {"entries": a.entries, "live_entries": live, "runs": a.runs, "touch_share": a.touch_share,
                     "seed": SEED, "simulator_generate_s": sim.generate_s, "machine": machine_info(base_url),
                     "contenders": {c: CONTENDERS[c][0] for c in contenders}, "phases": {p: {} for p in PHASES}}
        raw: dict = {p: {c: [] for c in contenders} for p in PHASES}
        run_tag = secrets.token_hex(3)

        def run(c: str, phase: str, db: str, i: int, position: int, touch: dict | None = None) -> None:
            label, kind, fmt = CONTENDERS[c]
            url = _with_db(base_url, db)
            load1 = round(os.getloadavg()[0], 2)  # the machine is shared: flag busy runs
            if kind == "dlt":
                cmd = [a.dlt_python, str(REPO / "bench" / "extract_dlt.py"), "--sim-url", sim.url,
                       "--db-url", _dlt_url(url), "--work", str(workdir / f"dlt-{db}"), "--format", fmt]
                cmd += ["--first-load"] if phase == "first_load" else []
                r = _run_child(cmd, denv, 7200)
                res["dlt_version"] = r.get("dlt_version")
            else:
                r = _run_child([sys.executable, __file__, "--child", kind, "--phase", phase, "--sim-url", sim.url,
                                "--db-url", url], env, 7200)
            if phase in ("first_load", "incremental_1pct"):
                with psycopg.connect(url) as conn:
                    r["check"] = check_target(conn, kind, live, touch)
                if not r["check"]["ok"]:
                    failures.append(f"run {i} {phase} {c}: {r['check']}")
                n = live if phase == "first_load" else touch["touched"]
                r["records_per_s"] = round(n / r["seconds"]) if r["seconds"] else None
            r["run"], r["position"], r["loadavg_1m"] = i, position, load1
            raw[phase][c].append(r)
            print(f"  run {i} {phase:16s} {label:38s} {r['seconds']:8.2f} s {r['requests']:6d} req "
                  f"{r.get('records_per_s') or '':>8} rec/s  rss {r['peak_rss_mb']} MB"
                  + ("" if r.get("check", {}).get("ok", True) else f"  CHECK FAILED {r['check']}"), flush=True)

        for i in range(a.runs):
            dbs = {c: f"bench_{run_tag}_{i}_{c}" for c in contenders}
            with psycopg.connect(base_url, autocommit=True) as conn:
                for name in dbs.values():
                    conn.execute(f'CREATE DATABASE "{name}"')
            print(f"run {i + 1}/{a.runs}", flush=True)
            for pos, c in enumerate(rotate(contenders, i)):
                run(c, "first_load", dbs[c], i, pos)
            for pos, c in enumerate(rotate(stateful, i)):
                run(c, "idle_minute", dbs[c], i, pos)
            if "handoff" in contenders:
                run("handoff", "reconcile", dbs["handoff"], i, 0)
            n, touch = sim.ask(f"touch {a.touch_share}")
            res["touched"] = n
            print(f"  touched {n:,} entries ({touch['updated_at']})", flush=True)
            for pos, c in enumerate(rotate(stateful, i)):
                run(c, "incremental_1pct", dbs[c], i, pos, touch)
            sim.ask("reset")
            with psycopg.connect(base_url, autocommit=True) as conn:
                for name in dbs.values():
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for c in contenders:
                shutil.rmtree(workdir / f"dlt-{dbs[c]}", ignore_errors=True)

        for phase in PHASES:
            for c in contenders:
                if raw[phase][c]:
                    res["phases"][phase][c] = summarize(raw[phase][c])
        res["targets"] = evaluate_targets(res["phases"])
        res["verified"] = not failures
        res["verification_failures"] = failures
        res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        md = render_markdown(res)
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
        out.with_suffix(".md").write_text(md)
        print()
        print(md)
        print(f"written to {out} and {out.with_suffix('.md')}")
        if failures:
            print("VERIFICATION FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        return 0
    finally:
        if sim is not None:
            sim.close()
        if cluster is not None:
            cluster.stop(mode="immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

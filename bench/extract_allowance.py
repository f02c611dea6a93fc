"""Extract benchmark, realistic-latency phase: first loads at the speed the APIs allow.

    python bench/extract_allowance.py [--entries 1000000] [--contacts 500000] [--dlt-records 100000]

The simulators run with the `realistic` pacing profile (handoff.sim.pacing): Kantata answers a
200-entry page in 200 ms + 0.25 ms per record (250 ms) and refuses more than 20 requests in any
second (429); Salesforce answers in 150 ms + 0.02 ms per record. Contenders, each a fresh child
process against a fresh database:

- Handoff, Kantata time entries: one run of the extract task as Airflow runs it (production
  settings, the allowance shared through the warehouse, concurrency slots held): a windowed first
  load, then its incremental tail.
- dlt, Kantata time entries: dlt 1.31 `rest_api` (bench/extract_dlt.py) with its parallel options on
  (`parallelized` resource, extract workers); it walks one resource's pages one after another, so
  its rate is steady from the first page: it loads the newest `--dlt-records` entries (the rate
  would be the same over all of them; the full million would take it about 20 minutes).
- The allowance bound: the most records a second the documented limits let any client read:
  min(rate limit x records per page, concurrency x records per page / page latency).
- Handoff, Salesforce contacts: the Contact stream's first load (windows of Bulk API 2.0 jobs past
  `bulk_threshold`) and, for reference, the same through one REST query's locators (bulk_threshold
  raised past the object's size: no window is then worth it).
- Steady state (Handoff, Kantata): the next scheduled run with nothing changed, and a delete sweep
  (handoff.extract.sweep) after 25 hard deletes, against the old full id listing; API time a day
  = requests x page latency x runs a day (every minute; sweeps every 15 minutes).

Refusals are the simulators' own counters (`GET /__sim/pacing`). Results: bench/results/extract_allowance.json
and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_common import Measure, credentials, emit  # noqa: E402

from extract import SEED, Simulator, _dlt_url, _run_child, _with_db, machine_info, start_postgres  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "extract_allowance.json"
PER_PAGE = 200
KANTATA_RATE, KANTATA_SECONDS, KANTATA_CONCURRENCY = 20, 1.0, 10  # the simulator's documented limits
KANTATA_LATENCY_S = 0.200 + 0.00025 * PER_PAGE
SWEEPS_A_DAY, RUNS_A_DAY = 24 * 60 // 15, 24 * 60


# ---- the simulators' process ------------------------------------------------------------------
def serve(entries: int, contacts: int) -> None:
    """Kantata and Salesforce with realistic pacing. Control protocol, one line each way:
    `stats <system>` → `ok 0 <pacing stats>`; `since <n>` → `ok 0 {"since": iso}` (the updated_at
    above which the newest n time entries lie); `delete <n>` → `ok <n>` (hard-deletes n entries);
    `quit` (or EOF) stops it."""
    import numpy as np

    from handoff.sim import SimCluster, SimCredentials

    t = time.perf_counter()
    scale = f"bench:{entries}" + (f",contacts={contacts}" if contacts else "")
    cluster = SimCluster(seed=SEED, scale=scale, systems=("kantata", "salesforce"),
                         credentials=SimCredentials(*credentials()), pacing="realistic")
    cluster.start()
    print(json.dumps({"kantata": cluster.url("kantata"), "salesforce": cluster.url("salesforce"),
                      "generate_s": round(time.perf_counter() - t, 2)}), flush=True)
    world = cluster.world
    try:
        for line in sys.stdin:
            cmd, *args = line.split()
            try:
                if cmd == "stats":
                    print("ok 0 " + json.dumps(cluster.pacing_stats(args[0])), flush=True)
                elif cmd == "since":
                    te = world.te
                    with world.lock:
                        live = np.sort(te.updated[np.nonzero(te.alive)[0]])
                    at = int(live[-int(args[0])])
                    from datetime import UTC, datetime
                    print("ok 0 " + json.dumps({"since": datetime.fromtimestamp(at, UTC).isoformat()}), flush=True)
                elif cmd == "delete":
                    te = world.te
                    with world.lock:
                        live = np.nonzero(te.alive)[0]
                        rows = np.random.default_rng([SEED, 2]).choice(live, int(args[0]), replace=False)
                        te.alive[rows] = False
                        world.version += 1
                        te.touched()
                    print(f"ok {len(rows)}", flush=True)
                elif cmd == "quit":
                    break
                else:
                    print(f"error unknown command {cmd!r}", flush=True)
            except Exception as exc:
                print(f"error {type(exc).__name__}: {exc}", flush=True)
    finally:
        cluster.stop()


class Simulators(Simulator):
    """Kantata and Salesforce in one child process (`serve` above)."""

    def __init__(self, entries: int, contacts: int, env: dict):
        super().__init__(entries, env, __file__, ("--contacts", str(contacts)))

    def refused(self, system: str) -> int:
        return self.ask(f"stats {system}")[1]["counters"]["refused_total"]


# ---- Handoff's child --------------------------------------------------------------------------
def handoff_child(system: str, stream: str, urls: dict, db_url: str, extra: dict, reconcile: bool) -> None:
    """One run of the extract task, as Airflow runs it (dag_factory.run_stream's calls)."""
    from dataclasses import replace
    from datetime import timedelta

    import psycopg

    from handoff.extract.dag_factory import runtime_settings
    from handoff.extract.runner import StreamRunner
    from handoff.extract.sources import get_source
    from handoff.platform.connections import connection_env

    cid, secret = credentials()
    env = connection_env(urls, cid, secret, db_url, sim_pacing="realistic")
    if extra:
        key = f"AIRFLOW_CONN_HANDOFF_{system.upper()}"
        conn = json.loads(env[key])
        conn["extra"] = {**conn["extra"], **extra}
        env[key] = json.dumps(conn)
    os.environ.update(env)
    settings = runtime_settings()
    if reconcile:
        settings = replace(settings, reconcile_every=timedelta(0))

    def connect():
        return psycopg.connect(db_url)

    source = get_source(system)
    measure = Measure(urls[system], warm=system == "kantata")
    with measure:
        client = source.client().share_allowance(connect)
        try:
            with connect() as conn:
                r = StreamRunner(source.stream(stream), client, conn, settings, connect=connect).run()
        finally:
            client.close()
    own = {k: getattr(r, k, None) for k in ("pages", "changed", "deletes", "retries", "requests", "swept", "windows",
                                          "sweep_requests")}
    emit({"records": r.records, "handoff": own, "waited_for_allowance_s": round(client.pacer.waited, 2)}, measure)


# ---- parent -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=500_000)
    ap.add_argument("--dlt-records", type=int, default=100_000)
    ap.add_argument("--dlt-python", default=str(REPO / ".local" / "bench-dlt" / "bin" / "python"))
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--skip-salesforce", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--args", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child == "serve":
        serve(a.entries, a.contacts)
        return 0
    if a.child == "handoff":
        handoff_child(**json.loads(a.args))
        return 0

    env = dict(os.environ, BENCH_CLIENT_ID="bench-" + secrets.token_hex(4), BENCH_CLIENT_SECRET=secrets.token_hex(16))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), env.get("PYTHONPATH", "")])
    os.environ.update(env)
    workdir = Path(tempfile.mkdtemp(prefix="handoff-bench-allowance-"))
    cluster = None
    res: dict = {"args": {"entries": a.entries, "contacts": a.contacts, "dlt_records": a.dlt_records}}
    try:
        base_url = os.environ.get("HANDOFF_WAREHOUSE_URL")
        if not base_url:
            cluster, base_url = start_postgres(workdir)
        res["machine"] = machine_info(base_url)
        t = time.perf_counter()
        sims = Simulators(a.entries, 0 if a.skip_salesforce else a.contacts, env)
        res["generate_s"] = round(time.perf_counter() - t, 1)
        print(f"[bench] simulators up in {res['generate_s']} s: {sims.info}", flush=True)
        urls = {"kantata": sims.info["kantata"], "salesforce": sims.info["salesforce"]}
        import psycopg

        def fresh_db(name: str) -> str:
            with psycopg.connect(base_url, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {name}")
                c.execute(f"CREATE DATABASE {name}")
            return _with_db(base_url, name)

        def handoff(system, stream, db_url, extra=None, reconcile=False, timeout=7200, first_load=False):
            before = sims.refused(system)
            args = json.dumps({"system": system, "stream": stream, "urls": urls, "db_url": db_url,
                               "extra": extra or {}, "reconcile": reconcile})
            out = _run_child([sys.executable, __file__, "--child", "handoff", "--args", args], env, timeout)
            out["refused"] = sims.refused(system) - before
            landed = out["handoff"]["changed"] if first_load else out.get("records")
            if landed and out.get("seconds"):  # first loads: live records landed, as in bench/extract.py
                out["records_per_s"] = round(landed / out["seconds"])
            print(f"[bench] handoff {system}.{stream}: {json.dumps(out)[:600]}", flush=True)
            return out

        bound = min(KANTATA_RATE / KANTATA_SECONDS * PER_PAGE, KANTATA_CONCURRENCY * PER_PAGE / KANTATA_LATENCY_S)
        k: dict = {"bound_records_per_s": bound, "page_latency_s": KANTATA_LATENCY_S,
                   "limits": f"{KANTATA_RATE} requests/{KANTATA_SECONDS:g} s, {KANTATA_CONCURRENCY} in flight"}
        db = fresh_db("allowance_handoff")
        k["handoff_first_load"] = handoff("kantata", "time_entries", db, first_load=True)
        k["handoff_idle_run"] = handoff("kantata", "time_entries", db)
        sims.ask("delete 25")
        k["handoff_delete_sweep"] = handoff("kantata", "time_entries", db, reconcile=True)
        with psycopg.connect(db) as c:
            live_raw = c.execute("SELECT count(*) FROM raw_kantata.time_entries WHERE NOT is_deleted").fetchone()[0]
        k["live_after_sweep"] = live_raw
        full_listing_requests = -(-live_raw // PER_PAGE)
        sweep_req = k["handoff_delete_sweep"]["handoff"]["sweep_requests"]
        k["delete_detection"] = {
            "sweep_requests": sweep_req, "full_listing_requests": full_listing_requests,
            "api_minutes_a_day": round(sweep_req * KANTATA_LATENCY_S * SWEEPS_A_DAY / 60, 1),
            "full_listing_api_minutes_a_day": round(full_listing_requests * KANTATA_LATENCY_S * SWEEPS_A_DAY / 60, 1),
            "deletes_found": k["handoff_delete_sweep"]["handoff"]["deletes"]}
        k["idle_api_minutes_a_day"] = round(k["handoff_idle_run"]["requests"] * KANTATA_LATENCY_S * RUNS_A_DAY / 60, 1)
        if not a.skip_dlt:
            _, since = sims.ask(f"since {a.dlt_records}")
            dlt_db = fresh_db("allowance_dlt")
            before = sims.refused("kantata")
            cmd = [a.dlt_python, str(REPO / "bench" / "extract_dlt.py"), "--sim-url", urls["kantata"],
                   "--db-url", _dlt_url(dlt_db), "--work", str(workdir / "dlt"), "--format", "csv",
                   "--first-load", "--since", since["since"], "--parallel"]
            out = _run_child(cmd, env, 7200)
            out["refused"] = sims.refused("kantata") - before
            out["records_per_s"] = round(out["records"] / out["seconds"]) if out.get("seconds") else None
            k["dlt_first_load"] = out
            print(f"[bench] dlt: {json.dumps(out)[:600]}", flush=True)
        res["kantata"] = k
        if not a.skip_salesforce:
            s: dict = {}
            s["handoff_bulk"] = handoff("salesforce", "Contact", fresh_db("allowance_sf_bulk"), first_load=True)
            s["handoff_rest"] = handoff("salesforce", "Contact", fresh_db("allowance_sf_rest"), first_load=True,
                                        extra={"bulk_threshold": str(10 * max(a.contacts, 1))})
            res["salesforce"] = s
        sims.close()
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    res["targets"] = evaluate(res)
    write(res, Path(a.out))
    return 0  # targets are reported, not enforced (a failed run raises)


def evaluate(res: dict) -> list[dict]:
    k = res.get("kantata", {})
    h = (k.get("handoff_first_load") or {}).get("records_per_s")
    d = (k.get("dlt_first_load") or {}).get("records_per_s")
    out = []

    def target(name, value, ok):
        out.append({"target": name, "value": value, "met": ok})

    if h:
        r = round(h / k["bound_records_per_s"], 3)
        target("Kantata first load: Handoff >= 0.8 of the allowance bound", r, r >= 0.8)
    if h and d:
        r = round(h / d, 2)
        target("Kantata first load: Handoff >= 4x dlt (parallel options on)", r, r >= 4)
    refused = sum((x or {}).get("refused", 0) for x in [*k.values(), *res.get("salesforce", {}).values()]
                  if isinstance(x, dict) and "refused" in x and x is not k.get("dlt_first_load"))
    target("zero refusals from the rate limiter (Handoff, every phase)", refused, refused == 0)
    rss = max((x.get("peak_rss_mb") or 0) for x in [*k.values(), *res.get("salesforce", {}).values()]
              if isinstance(x, dict) and "peak_rss_mb" in x and x is not k.get("dlt_first_load"))
    target("Handoff peak RSS < 300 MB (any phase)", rss, rss < 300)
    return out


def write(res: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    md = render(res)
    out.with_suffix(".md").write_text(md)
    print(md)


def _n(v) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if isinstance(v, int | float) and abs(v) >= 100 else str(v)


def render(res: dict) -> str:
    m, k, s = res.get("machine", {}), res.get("kantata", {}), res.get("salesforce", {})
    lines = [f"# Extract at the APIs' allowance: {res['args']['entries']:,} Kantata time entries, "
             f"{res['args']['contacts']:,} Salesforce contacts, realistic latency", "",
             f"{m.get('nproc')} CPUs ({m.get('cpu')}), Python {m.get('python')}, PostgreSQL {m.get('postgres')}; "
             f"{m.get('date')}, load average {m.get('loadavg_start')} at start. Simulators generated in "
             f"{res.get('generate_s')} s.", "",
             f"Kantata: {k.get('limits')}; a 200-entry page takes {k.get('page_latency_s')} s. Allowance bound: "
             f"**{_n(k.get('bound_records_per_s'))} records/s**.", "",
             "| contender | records | seconds | records/s | of bound | requests | refusals | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    bound = k.get("bound_records_per_s") or 0

    def row(label, r):
        if not r:
            return
        rps = r.get("records_per_s")
        lines.append(f"| {label} | {_n(r.get('records'))} | {r.get('seconds')} | {_n(rps)} | "
                     f"{round(rps / bound, 3) if rps and bound else '–'} | {_n(r.get('requests'))} | "
                     f"{r.get('refused', '–')} | {r.get('peak_rss_mb')} |")

    row("Handoff, windowed first load", k.get("handoff_first_load"))
    row(f"dlt rest_api, parallel options on (newest {res['args']['dlt_records']:,})", k.get("dlt_first_load"))
    row("Handoff, next scheduled run (nothing changed)", k.get("handoff_idle_run"))
    row("Handoff, run with delete sweep (25 hard deletes)", k.get("handoff_delete_sweep"))
    dd = k.get("delete_detection") or {}
    lines += ["", f"Delete detection: a sweep costs **{dd.get('sweep_requests')} requests** (found "
                  f"{dd.get('deletes_found')} of 25) against {_n(dd.get('full_listing_requests'))} for the full id "
                  f"listing: **{dd.get('api_minutes_a_day')} API minutes a day** at a sweep every 15 minutes "
                  f"(the full listing: {_n(dd.get('full_listing_api_minutes_a_day'))}). The idle minute's runs: "
                  f"{k.get('idle_api_minutes_a_day')} API minutes a day."]
    if s:
        lines += ["", "Salesforce contacts (no request-rate limit: a daily request count; Bulk API 2.0 spends "
                      "a handful of requests where REST spends one per 2,000 records):", "",
                  "| path | records | seconds | records/s | requests | refusals | peak RSS MB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for label, key in (("Handoff, Bulk API 2.0 (windowed)", "handoff_bulk"),
                           ("Handoff, REST query locators (bulk_threshold past the object's size)", "handoff_rest")):
            r = s.get(key) or {}
            lines.append(f"| {label} | {_n(r.get('records'))} | {r.get('seconds')} | {_n(r.get('records_per_s'))} | "
                         f"{_n(r.get('requests'))} | {r.get('refused', '–')} | {r.get('peak_rss_mb')} |")
    lines += ["", "Targets:", ""]
    for t in res.get("targets", []):
        lines.append(f"- {t['target']}: {t['value']}: **{'met' if t['met'] else 'NOT met'}**")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

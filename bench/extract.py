"""Extract benchmark: Kantata time entries, simulator → Postgres, three ways, one run.

    python bench/extract.py [--entries 1000000] [--dlt-python .local/bench-dlt/bin/python]

1. handoff: the production code path (StreamRunner: HttpHook client, pydantic validation,
   COPY into a staging table, merge into raw_kantata.time_entries, cursor + ledger in the same
   transactions), a full load.
2. dlt: `dlt[postgres]` 1.31 `rest_api` source over the same endpoint (own virtualenv).
3. ceiling: a bare loop fetching the same pages and COPYing the records into a plain table, no
   validation, no merge, no state.

Each runs in its own child process (so peak RSS is per contender) against its own database on
the same Postgres: `HANDOFF_WAREHOUSE_URL` (needs CREATEDB), else a private cluster started with
`handoff.platform.postgres`. The simulator serves from its own child process. Results go to
bench/results/extract.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "extract.json"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---- children ------------------------------------------------------------------------------
def serve(entries: int) -> None:
    from handoff.sim import SimCluster, SimCredentials

    t = time.perf_counter()
    cluster = SimCluster(seed=7, scale=f"bench:{entries}", systems=("kantata",),
                         credentials=SimCredentials(os.environ["BENCH_CLIENT_ID"], os.environ["BENCH_CLIENT_SECRET"]))
    cluster.start()
    print(json.dumps({"url": cluster.url("kantata"), "generate_s": round(time.perf_counter() - t, 2)}), flush=True)
    sys.stdin.read()
    cluster.stop()


def phase_handoff(sim_url: str, db_url: str) -> dict:
    from datetime import timedelta

    import psycopg

    from handoff.extract.sources import get_source
    from handoff.extract.streams import ExtractSettings, StreamRunner
    from handoff.platform.connections import connection_env

    os.environ.update(connection_env({"kantata": sim_url}, os.environ["BENCH_CLIENT_ID"],
                                     os.environ["BENCH_CLIENT_SECRET"], db_url))
    source = get_source("kantata")
    settings = ExtractSettings(lookback=timedelta(0), reconcile_every=timedelta(days=365))
    t = time.perf_counter()
    client = source.client()
    with psycopg.connect(db_url) as conn:
        result = StreamRunner(source.stream("time_entries"), client, conn, settings).run()
        seconds = time.perf_counter() - t
        landed = conn.execute("SELECT count(*) FROM raw_kantata.time_entries").fetchone()[0]
    return {"records": result.records, "landed": landed, "pages": result.pages, "rejects": result.rejects,
            "seconds": round(seconds, 2)}


def phase_ceiling(sim_url: str, db_url: str) -> dict:
    """Fetch the same pages, COPY id + payload: the floor of work any extractor has to do."""
    import msgspec
    import psycopg
    import requests

    enc, dec = msgspec.json.Encoder().encode, msgspec.json.Decoder().decode
    t = time.perf_counter()
    s = requests.Session()
    tok = s.post(f"{sim_url}/oauth/token", data={"grant_type": "client_credentials",
                                                 "client_id": os.environ["BENCH_CLIENT_ID"],
                                                 "client_secret": os.environ["BENCH_CLIENT_SECRET"]}).json()
    s.headers["Authorization"] = f"Bearer {tok['access_token']}"
    n = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ceiling_time_entries (id text, payload jsonb)")
        with conn.transaction(), conn.cursor() as cur, cur.copy("COPY ceiling_time_entries FROM STDIN") as cp:
            page = 1
            while True:
                body = dec(s.get(f"{sim_url}/api/v1/time_entries.json",
                                 params={"per_page": 200, "page": page, "order": "updated_at:asc"}).content)
                objs = body["time_entries"]
                cp.write("".join(f"{r['id']}\t{enc(objs[r['id']]).decode().replace(chr(92), chr(92) * 2)}\n"
                                 for r in body["results"]))
                n += len(body["results"])
                if len(body["results"]) < 200:
                    break
                page += 1
    return {"records": n, "seconds": round(time.perf_counter() - t, 2)}


DLT_SCRIPT = r'''
import json, os, resource, sys, time
import dlt
from dlt.sources.rest_api import rest_api_source
url, db, token, work = sys.argv[1:5]
source = rest_api_source({
    "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
    "resources": [{
        "name": "time_entries",
        "endpoint": {
            "path": "api/v1/time_entries.json",
            "params": {"per_page": 200, "order": "updated_at:asc"},
            "data_selector": "time_entries.*",
            "paginator": {"type": "page_number", "base_page": 1, "page_param": "page",
                          "total_path": "meta.page_count"},
        },
    }],
})
t = time.perf_counter()
pipeline = dlt.pipeline(pipeline_name="bench_kantata", destination=dlt.destinations.postgres(credentials=db),
                        dataset_name="dlt_kantata", pipelines_dir=work)
pipeline.run(source)
seconds = time.perf_counter() - t
n = pipeline.last_trace.last_normalize_info.row_counts.get("time_entries", 0)
print(json.dumps({"records": n, "seconds": round(seconds, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
'''


def child(kind: str, sim_url: str, db_url: str) -> None:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    out = phase_handoff(sim_url, db_url) if kind == "handoff" else phase_ceiling(sim_url, db_url)
    out["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


# ---- parent --------------------------------------------------------------------------------
def _run_child(cmd: list[str], env: dict, timeout: float) -> dict:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ") or ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--dlt-python", default=str(REPO / ".local" / "bench-dlt" / "bin" / "python"))
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--child", choices=["serve", "handoff", "ceiling"], help=argparse.SUPPRESS)
    ap.add_argument("--sim-url")
    ap.add_argument("--db-url")
    a = ap.parse_args(argv)
    if a.child == "serve":
        serve(a.entries)
        return 0
    if a.child:
        child(a.child, a.sim_url, a.db_url)
        return 0

    import psycopg
    import requests

    env = dict(os.environ, BENCH_CLIENT_ID="bench-" + secrets.token_hex(4), BENCH_CLIENT_SECRET=secrets.token_hex(16),
               PYTHONPATH=str(REPO / "include"))
    workdir = Path(tempfile.mkdtemp(prefix="handoff-bench-extract-"))
    cluster = None
    base_url = os.environ.get("HANDOFF_WAREHOUSE_URL")
    sim = None
    try:
        if not base_url:
            from handoff.platform.postgres import LocalPostgres, free_port

            cluster = LocalPostgres(root=workdir / "pg", port=free_port())
            cluster.init()
            cluster.start()
            base_url = cluster.url("postgres")
        run_id = secrets.token_hex(3)
        dbs = {k: f"bench_{k}_{run_id}" for k in ("handoff", "dlt", "ceiling")}
        with psycopg.connect(base_url, autocommit=True) as conn:
            for name in dbs.values():
                conn.execute(f'CREATE DATABASE "{name}"')

        print(f"starting the Kantata simulator with {a.entries:,} time entries ...", flush=True)
        sim = subprocess.Popen([sys.executable, __file__, "--child", "serve", "--entries", str(a.entries)],
                               env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(sim.stdout.readline())
        sim_url = info["url"]
        print(f"  simulator at {sim_url}, generated in {info['generate_s']} s", flush=True)
        # Warm the server's sorted index once so no contender pays the one-off sort.
        requests.get(f"{sim_url}/__sim/health", timeout=10)

        results: dict = {"entries": a.entries, "simulator_generate_s": info["generate_s"]}
        me = [sys.executable, __file__, "--sim-url", sim_url]
        print("ceiling ...", flush=True)
        results["ceiling"] = _run_child(me + ["--child", "ceiling", "--db-url", _with_db(base_url, dbs["ceiling"])],
                                        env, 3600)
        print("  ", results["ceiling"], flush=True)
        print("handoff ...", flush=True)
        results["handoff"] = _run_child(me + ["--child", "handoff", "--db-url", _with_db(base_url, dbs["handoff"])],
                                        env, 3600)
        print("  ", results["handoff"], flush=True)
        if not a.skip_dlt:
            if not Path(a.dlt_python).exists():
                raise SystemExit(f"{a.dlt_python} missing: run `make bench-extract` (it creates the dlt venv)")
            tok = requests.post(f"{sim_url}/oauth/token", data={
                "grant_type": "client_credentials", "client_id": env["BENCH_CLIENT_ID"],
                "client_secret": env["BENCH_CLIENT_SECRET"]}).json()["access_token"]
            script = workdir / "dlt_bench.py"
            script.write_text(DLT_SCRIPT)
            denv = {k: v for k, v in env.items() if k != "PYTHONPATH"}
            denv["RUNTIME__LOG_LEVEL"] = "WARNING"
            print("dlt ...", flush=True)
            results["dlt"] = _run_child([a.dlt_python, str(script), sim_url, _dlt_url(_with_db(base_url, dbs["dlt"])), tok,
                                         str(workdir / "dlt")], denv, 7200)
            print("  ", results["dlt"], flush=True)

        for k in ("handoff", "dlt", "ceiling"):
            if k in results:
                r = results[k]
                r["records_per_s"] = round(r["records"] / r["seconds"]) if r["seconds"] else None
        h = results["handoff"]["records_per_s"]
        results["ratio_handoff_over_ceiling"] = round(h / results["ceiling"]["records_per_s"], 3)
        if "dlt" in results:
            results["ratio_handoff_over_dlt"] = round(h / results["dlt"]["records_per_s"], 2)
        results["targets"] = {
            "handoff_over_dlt_min": 3.0, "handoff_over_ceiling_min": 0.6, "peak_rss_mb_max": 300,
            "met": {
                "dlt": results.get("ratio_handoff_over_dlt", 0) >= 3.0 if "dlt" in results else None,
                "ceiling": results["ratio_handoff_over_ceiling"] >= 0.6,
                "rss": results["handoff"]["peak_rss_mb"] < 300,
            },
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
        print()
        for k in ("handoff", "dlt", "ceiling"):
            if k in results:
                r = results[k]
                print(f"{k:8s} {r['records']:>9,} records  {r['seconds']:7.2f} s  {r['records_per_s']:>8,} records/s"
                      f"  peak RSS {r['peak_rss_mb']} MB")
        if "dlt" in results:
            print(f"handoff/dlt     = {results['ratio_handoff_over_dlt']}x (target >= 3)")
        print(f"handoff/ceiling = {results['ratio_handoff_over_ceiling']:.1%} (target >= 60%)")
        print(f"written to {a.out}")
        return 0
    finally:
        if sim is not None:
            sim.stdin.close()
            try:
                sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sim.kill()
        if cluster is not None:
            cluster.stop(mode="immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

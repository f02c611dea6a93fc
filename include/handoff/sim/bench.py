"""Measure generation time/memory of a bench world and the Kantata serving rate.

    python -m handoff.sim.bench --entries 2000000 --pull 1000000

The server runs in a child process (as `handoff sim serve` would) so the client's JSON parsing does
not share its interpreter lock; the client pulls time entries at per_page=200 over one keep-alive
HTTP/1.1 connection and reports records/s, with and without parsing the JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import time
from urllib.parse import urlsplit


def _child(scale: str) -> None:
    from .cluster import SimCluster
    from .http import SimCredentials

    t = time.perf_counter()
    cluster = SimCluster(seed=7, scale=scale, credentials=SimCredentials("bench", "bench"),
                         systems=("kantata",))
    cluster.start()
    gen = time.perf_counter() - t
    print(json.dumps({"url": cluster.url("kantata"), "generate_s": round(gen, 2), "peak_rss_mb": round(_peak_rss_mb())}),
          flush=True)
    sys.stdin.read()  # run until the parent closes stdin
    cluster.stop()
    print(json.dumps({"peak_rss_mb_after_serving": round(_peak_rss_mb())}), flush=True)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pull(url: str, records: int, parse: bool, per_page: int = 200) -> dict:
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("POST", "/oauth/token", body="grant_type=client_credentials&client_id=bench&client_secret=bench",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(c.getresponse().read())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    n, page, nbytes = 0, 1, 0
    t = time.perf_counter()
    while n < records:
        c.request("GET", f"/api/v1/time_entries.json?order=updated_at:asc&per_page={per_page}&page={page}",
                  headers=headers)
        body = c.getresponse().read()
        nbytes += len(body)
        if parse:
            got = len(json.loads(body)["results"])
        else:
            got = body.count(b'"key":"time_entries"')
        if not got:
            break
        n += got
        page += 1
    dt = time.perf_counter() - t
    return {"records": n, "seconds": round(dt, 2), "records_per_s": round(n / dt), "mb": round(nbytes / 1e6)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=2_000_000)
    ap.add_argument("--pull", type=int, default=1_000_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child)
        return
    proc = subprocess.Popen([sys.executable, "-m", "handoff.sim.bench", "--child", f"bench:{a.entries}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        info = json.loads(proc.stdout.readline())
        print("generation:", info, flush=True)
        first = pull(info["url"], a.pull, parse=False)
        print("serve (first walk, includes the one-off sort):", first, flush=True)
        print("serve (raw bytes):", pull(info["url"], a.pull, parse=False), flush=True)
        print("serve (client parses JSON):", pull(info["url"], a.pull, parse=True), flush=True)
    finally:
        proc.stdin.close()
        after = proc.stdout.readline()
        proc.wait(timeout=30)
    if after:
        print("server:", json.loads(after), flush=True)


if __name__ == "__main__":
    main()

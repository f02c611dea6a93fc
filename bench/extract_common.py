"""Helpers every contender's child process shares (stdlib only: imported from both virtualenvs).

The warm-up and the request counter are the same code for Handoff, dlt and the baseline, so caches
are warmed the same way for everyone and requests are counted the same way (on the simulator side).
"""

from __future__ import annotations

import json
import os
import resource
import time
import urllib.parse
import urllib.request

PER_PAGE = 200
TIME_ENTRIES = "/api/v1/time_entries.json"
# What every contender lists: ascending modification time, and (like Handoff's stream) the entries of
# archived workspaces too, which Kantata's list hides unless asked: everyone loads the same set.
LIST_PARAMS = {"order": "updated_at:asc", "from_archived_workspaces": "true"}


def credentials() -> tuple[str, str]:
    return os.environ["BENCH_CLIENT_ID"], os.environ["BENCH_CLIENT_SECRET"]


def token(sim_url: str) -> str:
    cid, secret = credentials()
    data = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": cid,
                                   "client_secret": secret}).encode()
    with urllib.request.urlopen(f"{sim_url}/oauth/token", data=data, timeout=60) as r:
        return json.loads(r.read())["access_token"]


def get_page(sim_url: str, bearer: str, **params) -> dict:
    q = urllib.parse.urlencode({"per_page": PER_PAGE, "page": 1, **LIST_PARAMS, **params})
    req = urllib.request.Request(f"{sim_url}{TIME_ENTRIES}?{q}", headers={"Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def warm_up(sim_url: str) -> int:
    """One untimed page fetch (its own token): warms loopback, the simulator's sorted index for the
    plain LIST_PARAMS walk, and this process's HTTP stack. Returns the live entry count."""
    return int(get_page(sim_url, token(sim_url))["meta"]["count"])


def sim_requests(sim_url: str) -> int:
    """The simulator's own count of API requests served (admin endpoints are not counted)."""
    with urllib.request.urlopen(f"{sim_url}/__sim/health", timeout=30) as r:
        return int(json.loads(r.read())["requests"])


def peak_rss_mb() -> float:
    """Peak RSS of this process (or of a child it waited for, whichever is larger)."""
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return round(kb / 1024, 1)


class Measure:
    """Wall time and simulator requests of the block it wraps: `with measure: ...`.

    Entering first does the untimed warm-up fetch, so every contender is warmed the same way right
    before its clock starts (after its imports and set-up)."""

    def __init__(self, sim_url: str, warm: bool = True):
        self.sim_url, self.warm = sim_url, warm
        self.seconds = self.requests = None

    def __enter__(self) -> Measure:
        if self.warm:  # Kantata's time entries (the other systems' children measure without it)
            warm_up(self.sim_url)
        self._r0 = sim_requests(self.sim_url)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = round(time.perf_counter() - self._t0, 3)
        self.requests = sim_requests(self.sim_url) - self._r0


def emit(result: dict, measure: Measure) -> None:
    """The child's last stdout line: what the parent reads."""
    out = dict(result, seconds=measure.seconds, requests=measure.requests, peak_rss_mb=peak_rss_mb())
    print("RESULT " + json.dumps(out), flush=True)

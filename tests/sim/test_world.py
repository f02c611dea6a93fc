"""Determinism: same seed, same world; the clock's changes are reproducible from seed and ticks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import requests

from handoff.sim import SimCluster, clock
from handoff.sim.world import World

from .conftest import CREDS, KT_ALL


def _digest(w: World):
    te = w.te
    return ({k: v[: te.n].tobytes() for k, v in te.cols.items()},
            {s: {k: t.values() for k, t in getattr(w, s).items()} for s in ("sf", "hs", "kt", "ns")},
            w.workers, w.cases)


def test_same_seed_same_world_and_different_seed_differs():
    assert _digest(World(3, "tiny")) == _digest(World(3, "tiny"))
    assert _digest(World(3, "tiny")) != _digest(World(4, "tiny"))


def test_clock_is_reproducible_from_seed_and_ticks():
    a, b = World(5, "tiny"), World(5, "tiny")
    a.advance(30)
    a.advance(20)
    b.advance(50)
    assert _digest(a) == _digest(b) and a.tick == b.tick == 50


def test_world_moves(fresh):
    c, cl = fresh
    before = {r["id"]: r for r in c.truth("kantata", "time_entries")["records"]}
    tick = c.advance(24 * 7)  # a week: time logged, submitted Friday, approved Monday
    assert tick == c.tick == 168
    after = {r["id"]: r for r in c.truth("kantata", "time_entries")["records"]}
    assert set(after) - set(before)
    changed = [i for i in set(before) & set(after) if before[i] != after[i]]
    assert changed and all(after[i]["updated_at"] > before[i]["updated_at"] for i in changed)
    r = requests.post(c.url("kantata") + "/__sim/advance", json={"steps": 2}).json()
    assert r["tick"] == 170 and r["now"] == "2026-03-09T02:00:00Z"
    # incremental read picks up exactly what changed after a watermark
    s = cl.session("kantata")
    body = s.get(c.url("kantata") + "/api/v1/time_entries.json",
                 params={"updated_after": "2026-03-02T00:00:00Z", "per_page": 200, "order": "updated_at:asc",
                         **KT_ALL["time_entries"]}).json()
    assert body["count"] == sum(1 for x in c.truth("kantata", "time_entries")["records"]
                                if x["updated_at"] > "2026-03-02T00:00:00+00:00")


def test_cases_are_present_in_tiny():
    w = World(7, "tiny")
    cases = w.cases
    assert cases["closed_won_without_project"]
    won = cases["closed_won_without_project"][0]
    assert all(p["deal_id"] != won for p in w.projects)
    assert len(cases["time_on_closed_project"]["time_entry_ids"]) == 3
    assert cases["employee_missing_in_netsuite"] and cases["edited_after_approval"]
    assert cases["deleted_time_entries"] and cases["hubspot_duplicates"]
    stamps, counts = np.unique(w.te.updated[w.te.alive], return_counts=True)
    # the catch-up approval: a tie bigger than Kantata's largest page (200), at the documented stamp
    assert counts.max() > 200
    assert clock.kt_datetime(int(stamps[counts.argmax()])) == cases["modstamp_ties"]["kantata.time_entries"]


def test_bench_generation_memory():
    """Columns take 46 bytes/entry; generation's temporaries are freed, not kept in the heap."""
    from handoff.sim.timeentries import COLUMNS
    assert sum(np.dtype(t).itemsize for t in COLUMNS.values()) == 46
    code = ("import re\n"
            "def mb(k): return int(re.search(k + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
            "from handoff.sim.world import World\n"
            "base = mb('VmRSS'); w = World(7, 'bench:500000')\n"
            "print(mb('VmHWM') - base, mb('VmRSS') - base)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    peak, steady = map(float, r.stdout.split())
    # 500k entries: 23 MB of columns; before the fix the peak was ~150 MB above the baseline
    assert peak < 90 and steady < 70, (peak, steady)


def test_default_scale_has_ties_bigger_than_max_page():
    w = World(7, "default")
    assert 20_000 < w.te.n < 60_000 and w.scale.consultants == 50
    counts = np.unique(w.te.updated[w.te.alive], return_counts=True)[1]
    assert counts.max() > 200
    assert len({p["currency"] for p in w.projects}) == 3


def test_credentials_required_and_unknown_system():
    with pytest.raises(ValueError):
        SimCluster(seed=1, scale="tiny")
    with pytest.raises(ValueError):
        SimCluster(seed=1, scale="tiny", credentials=CREDS, systems=("sap",))


def test_subset_and_health():
    with SimCluster(seed=1, scale="tiny", credentials=CREDS, systems=("kantata",)) as c:
        assert requests.get(c.url("kantata") + "/__sim/health").json()["status"] == "ok"
        with pytest.raises(KeyError):
            c.url("netsuite")
        assert c.truth("netsuite", "job")["records"]  # truth works for systems not served


def test_background_ticker():
    with SimCluster(seed=1, scale="tiny", credentials=CREDS, tick_seconds=0.05, systems=("kantata",)) as c:
        import time
        time.sleep(0.5)
        assert c.tick >= 3


def test_cli_requires_env_and_registers():
    env = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "handoff.sim.cli", "serve", "--scale", "tiny"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "HANDOFF_SIM_CLIENT_ID" in r.stderr
    import argparse

    from handoff.sim.cli import register
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="cmd"))
    args = ap.parse_args(["sim", "serve", "--system", "kantata", "--port", "kantata=9999", "--tick-seconds", "2"])
    assert args.system == ["kantata"] and args.port == ["kantata=9999"] and callable(args.func)


def test_cli_serves_until_sigterm(tmp_path):
    import os
    import signal
    env = {**os.environ, "HANDOFF_SIM_CLIENT_ID": "a", "HANDOFF_SIM_CLIENT_SECRET": "b"}
    p = subprocess.Popen([sys.executable, "-m", "handoff.sim.cli", "serve", "--scale", "tiny", "--system", "workday",
                          "--port", "workday=0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        assert line[0] == "workday"
        r = requests.get(line[1] + "/ccx/service/customreport2/t/o/Handoff_Organizations?format=json", auth=("a", "b"))
        assert r.status_code == 200 and r.json()["Report_Entry"]
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0

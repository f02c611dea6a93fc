"""kill -9 of the extract process at the worst moments, then a rerun: raw equals the truth exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import connect_env, live, query, raw_rows, run, truth

CHILD = Path(__file__).with_name("kill_child.py")


@pytest.mark.parametrize("point", ["mid_copy", "before_commit", "between_pages"])
def test_killed_mid_run_then_resumed(point, make_sims, warehouse_url, monkeypatch, tmp_path):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    marker = tmp_path / "parked"
    proc = subprocess.Popen([sys.executable, str(CHILD), point, str(marker), warehouse_url], env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "child never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    landed_before = len(raw_rows(warehouse_url, "kantata", "time_entries"))
    expected, _ = truth(sims, "kantata", "time_entries")
    assert 0 < landed_before < len(expected)  # some batches committed, not all
    cursor = query(warehouse_url, "SELECT cursor_ts FROM ops.extract_state")[0][0]
    assert cursor is not None
    # The cursor never claims more than what landed.
    assert max(p["updated_at"] for p in live(warehouse_url, "kantata", "time_entries").values()) == cursor.isoformat()

    result = run("kantata", "time_entries", warehouse_url)
    assert live(warehouse_url, "kantata", "time_entries") == expected
    assert len(raw_rows(warehouse_url, "kantata", "time_entries")) == len(expected)
    outcomes = query(warehouse_url, "SELECT outcome FROM ops.extract_runs ORDER BY started_at")
    assert outcomes == [("abandoned",), ("success",)]
    assert result.records >= len(expected) - landed_before

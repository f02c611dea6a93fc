"""kill -9 of the extract process at the worst moments, then a rerun: raw equals the truth exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import connect_env, kill_when_parked, live, query, raw_rows, run, truth

CHILD = Path(__file__).with_name("kill_child.py")


@pytest.mark.parametrize("point", ["mid_copy", "before_commit", "between_pages"])
def test_killed_mid_run_then_resumed(point, make_sims, warehouse_url, monkeypatch, tmp_path):
    sims = make_sims(scale="bench:5000", systems=("kantata",))
    connect_env(monkeypatch, sims, warehouse_url)
    marker = tmp_path / "parked"
    kill_when_parked([sys.executable, str(CHILD), point, str(marker), warehouse_url], marker)
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

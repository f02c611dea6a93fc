"""dbt is installed, pinned to 1.11, and connects to the warehouse as the transformer role."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from handoff.config import REPO_ROOT
from handoff.platform.deployment import dbt_environment

DBT = str(Path(sys.executable).parent / "dbt")


def test_dbt_core_is_pinned_below_1_12():
    out = subprocess.run([DBT, "--version"], capture_output=True, text=True, timeout=60).stdout
    assert "installed: 1.11." in out, out


def test_dbt_connects_and_queries_as_transformer(pg, warehouse_db, tmp_path):
    dbname = warehouse_db
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           **dbt_environment(pg.cluster.host, pg.cluster.port, "", dbname=dbname),
           "HANDOFF_DBT_SCHEMA": "dbt_smoke", "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs")}
    proc = subprocess.run([DBT, "debug", "--project-dir", str(REPO_ROOT / "dbt_project")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "All checks passed!" in proc.stdout
    proc = subprocess.run([DBT, "show", "--inline", "select current_user as who", "--project-dir",
                           str(REPO_ROOT / "dbt_project")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "handoff_transformer" in proc.stdout

"""Where the dbt project and its artifacts live. Reads the environment only (no file I/O).

- `HANDOFF_DBT_PROJECT_DIR`: the dbt project (default: the repository's `dbt_project/`).
- `HANDOFF_DBT_ARTIFACTS`: the folder `handoff up` fills with `dbt parse` and
  `dbt docs generate` (manifest.json, catalog.json, index.html); the transform DAG is rendered
  from its manifest.json and the Airflow UI serves the docs from it. Default: the project's
  `target/`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from handoff.config import REPO_ROOT

PROJECT_DIR_ENV = "HANDOFF_DBT_PROJECT_DIR"
ARTIFACTS_ENV = "HANDOFF_DBT_ARTIFACTS"


def project_dir() -> Path:
    return Path(os.environ.get(PROJECT_DIR_ENV) or REPO_ROOT / "dbt_project")


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV) or project_dir() / "target")


def manifest_path() -> Path:
    return artifacts_dir() / "manifest.json"


def dbt_executable() -> str:
    """The dbt of this interpreter's environment."""
    path = Path(sys.executable).parent / "dbt"
    return str(path) if path.exists() else (shutil.which("dbt") or "dbt")

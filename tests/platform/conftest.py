"""Shared by the platform tests that run the `handoff` CLI as a user would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_env import sim_port_base  # noqa: E402

from handoff.platform.processes import free_port  # noqa: E402


@pytest.fixture
def user_env(tmp_path) -> dict[str, str]:
    """A user's environment for `handoff up`: its own home and free ports, nothing inherited."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HANDOFF_"))}
    return clean | {
        "HANDOFF_HOME": str(tmp_path / "local"),
        "HANDOFF_PG_PORT": str(free_port()),
        "HANDOFF_AIRFLOW_PORT": str(free_port()),
        "HANDOFF_SIM_PORT_BASE": str(sim_port_base()),
        "HANDOFF_SIM_SCALE": "tiny",
    }

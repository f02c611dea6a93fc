"""The dbt world fixtures (`make_dbt_world`, `dbt_world`) live in tests/dbt_world.py, shared with tests/reverse."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from dbt_world import (  # noqa: E402,F401  (fixtures and the summary hook, registered by import)
    DbtWorld,
    dbt_world,
    make_dbt_world,
    pytest_terminal_summary,
)

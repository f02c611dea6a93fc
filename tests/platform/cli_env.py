"""Running the `handoff` CLI as a user would: the command and free simulator ports."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from handoff.platform.processes import port_is_free

HANDOFF = str(Path(sys.executable).parent / "handoff")


def sim_port_base() -> int:
    """Five consecutive free ports for the simulators."""
    while True:
        base = random.randint(20000, 40000)
        if all(port_is_free(base + i) for i in range(5)):
            return base

"""The one registry of the systems Handoff talks to.

Every list of systems in the project derives from `SYSTEMS`: the connectors
(`handoff.connectors.<name>`), the extract sources (`handoff.extract.sources.<name>`), the
simulators' servers and ports (`handoff.sim`), and the Airflow connections (`handoff_<name>`).
Adding a system starts with one entry here; its modules are found by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class System:
    name: str
    role: str  # crm, psa, hris, erp: also a DAG tag
    title: str

    @property
    def conn_id(self) -> str:
        """The Airflow connection that points Handoff at this system (real or simulated)."""
        return f"handoff_{self.name}"


# Order matters only for the simulators' ports: HANDOFF_SIM_PORT_BASE + position.
SYSTEMS: tuple[System, ...] = (
    System("salesforce", "crm", "Salesforce"),
    System("hubspot", "crm", "HubSpot"),
    System("kantata", "psa", "Kantata OX"),
    System("workday", "hris", "Workday"),
    System("netsuite", "erp", "NetSuite"),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SYSTEMS)


def system(name: str) -> System:
    for s in SYSTEMS:
        if s.name == name:
            return s
    raise KeyError(f"unknown system {name!r}; known: {', '.join(NAMES)}")

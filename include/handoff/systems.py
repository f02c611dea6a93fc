"""The one registry of the systems Handoff talks to.

Every list of systems in the project derives from `SYSTEMS`: the connectors
(`handoff.connectors.<name>`), the extract sources (`handoff.extract.sources.<name>`), the
simulators' servers and ports (`handoff.sim`), and the Airflow connections (`handoff_<name>`).
Adding a system starts with one entry here; its modules are found by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class System:
    name: str
    role: str  # crm, psa, hris, erp: also a DAG tag
    title: str
    # Per-system settings read from the connection's extra (name: default), and families of them
    # by prefix (`fields_Account`); shown as connection-form fields, never sent as headers.
    settings: dict[str, str | None] = field(default_factory=dict)
    setting_prefixes: tuple[str, ...] = ()

    @property
    def conn_id(self) -> str:
        """The Airflow connection that points Handoff at this system (real or simulated)."""
        return f"handoff_{self.name}"

    @property
    def conn_type(self) -> str:
        """Its connection type: the connector's hook, with the system's own form fields in the UI."""
        return f"handoff_{self.name}"


# Order matters only for the simulators' ports: HANDOFF_SIM_PORT_BASE + position.
SYSTEMS: tuple[System, ...] = (
    System("salesforce", "crm", "Salesforce", {"api_version": "62.0", "batch_size": None, "bulk_threshold": "10000",
                                               "bulk_max_records": "10000"}, ("fields_",)),
    System("hubspot", "crm", "HubSpot", setting_prefixes=("properties_",)),
    System("kantata", "psa", "Kantata OX"),
    System("workday", "hris", "Workday", {"tenant": "handoff", "report_owner": "ISU_Handoff"}),
    System("netsuite", "erp", "NetSuite", {"account": None, "concurrency_limit": None}),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SYSTEMS)


def system(name: str) -> System:
    for s in SYSTEMS:
        if s.name == name:
            return s
    raise KeyError(f"unknown system {name!r}; known: {', '.join(NAMES)}")

"""Airflow provider info for the `handoff` package (entry point `apache_airflow_provider`).

Registers one connection type per system, `handoff_<system>`, whose hook is the connector's
`Hook`: the connection form shows the system's settings as fields (stored in the extra), and
"Test connection" authenticates and reads one record.
"""

from __future__ import annotations

from handoff.systems import SYSTEMS, System

# Airflow calls get_provider_info while it imports itself: import nothing from Airflow here (nor
# the hooks, which import Airflow); everything comes from the registry.


def _fields(s: System) -> dict:
    return {
        name: {"label": name.replace("_", " "),
               "description": f"{s.title} setting (default: {default or 'none'})",
               "schema": {"type": ["string", "null"], **({"default": default} if default else {})}}
        for name, default in s.settings.items()
    }


def get_provider_info() -> dict:
    types = []
    for s in SYSTEMS:
        types.append({
            "hook-class-name": f"handoff.connectors.{s.name}.Hook",
            "hook-name": f"Handoff {s.title}",
            "connection-type": s.conn_type,
            "conn-fields": _fields(s),
            "ui-field-behaviour": {"hidden-fields": [], "relabeling": {"login": "Client id / user",
                                                                        "password": "Secret / token"},
                                   "placeholders": {}},
        })
    return {
        "package-name": "handoff",
        "name": "Handoff",
        "description": "Connectors of the systems Handoff reads and writes (CRM, PSA, HRIS, ERP).",
        "versions": ["0.1.0"],
        "connection-types": types,
    }

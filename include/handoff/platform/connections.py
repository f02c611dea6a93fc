"""Airflow connections as AIRFLOW_CONN_* environment variables, built from URLs and secrets.

The DAGs only know connection ids; pointing Handoff at a real Salesforce or NetSuite account is
a change of these variables (or of the connection in the Airflow UI), nothing else.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from handoff.systems import NAMES, system

SYSTEMS = NAMES  # the registry's order: also the simulators' port order
WAREHOUSE_CONN_ID = "handoff_warehouse"

# The simulators' values of the per-system settings the connectors read from the connection's
# extra (declared with their defaults in `handoff.connectors.<system>.Hook.settings`).
SYSTEM_EXTRAS: dict[str, dict] = {
    "salesforce": {"api_version": "62.0"},
    "hubspot": {},
    "kantata": {},
    "workday": {"tenant": "handoff", "report_owner": "ISU_Handoff"},
    "netsuite": {"account": "handoff_sim"},
}


def conn_id(name: str) -> str:
    return system(name).conn_id


def env_name(conn: str) -> str:
    return f"AIRFLOW_CONN_{conn.upper()}"


def http_connection(base_url: str, login: str, password: str, extra: dict | None = None,
                    conn_type: str = "http") -> str:
    parts = urlsplit(base_url)
    return json.dumps({
        "conn_type": conn_type,
        "host": parts.hostname,
        "port": parts.port,
        "schema": parts.scheme,
        "login": login,
        "password": password,
        "extra": extra or {},
    })


def postgres_connection(url: str) -> str:
    parts = urlsplit(url)
    return json.dumps({
        "conn_type": "postgres",
        "host": parts.hostname,
        "port": parts.port or 5432,
        "schema": parts.path.lstrip("/"),
        "login": parts.username,
        "password": parts.password,
    })


def connection_env(sim_urls: dict[str, str], client_id: str, client_secret: str,
                   warehouse_url: str, sim_pacing: str = "off") -> dict[str, str]:
    """AIRFLOW_CONN_* for every system in `sim_urls` and for the warehouse (loader role).

    `sim_pacing`: the simulators' pacing profile (`handoff.sim.pacing`). Simulators serving no rate
    limits ("off", the test default) get connections with `rate_limit: off`, so clients do not
    space requests for an allowance nobody enforces; any other profile serves the documented
    limits, which the clients then pace to by default.
    """
    unpaced = {"rate_limit": "off"} if sim_pacing == "off" else {}
    env = {
        env_name(conn_id(name)): http_connection(url, client_id, client_secret,
                                                 {**SYSTEM_EXTRAS.get(name, {}), **unpaced}, system(name).conn_type)
        for name, url in sim_urls.items()
    }
    env[env_name(WAREHOUSE_CONN_ID)] = postgres_connection(warehouse_url)
    return env

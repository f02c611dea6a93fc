"""Workday RaaS: basic auth (integration user), custom reports as JSON snapshots.

Settings (connection extra): `tenant` (default handoff), `report_owner` (default ISU_Handoff).
"""

from __future__ import annotations

from handoff.connectors.auth import BasicAuth
from handoff.connectors.http import RetryPolicy, SystemClient, SystemHook
from handoff.systems import system

SYSTEM = system("workday")


class Hook(SystemHook):
    system = SYSTEM.name
    conn_type = SYSTEM.conn_type
    hook_name = f"Handoff {SYSTEM.title}"
    settings = SYSTEM.settings
    setting_prefixes = SYSTEM.setting_prefixes


class Client(SystemClient):
    hook_class = Hook

    def __init__(self, conn_id: str, policy: RetryPolicy | None = None):
        super().__init__(conn_id, BasicAuth(), policy)

    def probe(self) -> str:
        return f"{len(self.report('Handoff_Workers'))} worker(s) from the Handoff_Workers report"

    def report(self, name: str, **prompts: str) -> list[dict]:
        """Every entry of a custom report (prompts as query parameters)."""
        path = f"ccx/service/customreport2/{self.setting('tenant')}/{self.setting('report_owner')}/{name}"
        return self.json("GET", path, params={"format": "json", **prompts}).get("Report_Entry", [])

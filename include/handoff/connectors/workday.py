"""Workday RaaS: basic auth (integration user), custom reports as JSON snapshots.

Settings (connection extra): `tenant` (default handoff), `report_owner` (default ISU_Handoff).
"""

from __future__ import annotations

from handoff.connectors.auth import BasicAuth
from handoff.connectors.http import RetryPolicy, SystemClient, SystemHook


class Hook(SystemHook):
    system = "workday"
    hook_name = "Handoff Workday"
    settings = {"tenant": "handoff", "report_owner": "ISU_Handoff"}


class Client(SystemClient):
    hook_class = Hook

    def __init__(self, conn_id: str, policy: RetryPolicy | None = None):
        super().__init__(conn_id, BasicAuth(), policy)

    def report(self, name: str, **prompts: str) -> list[dict]:
        """Every entry of a custom report (prompts as query parameters)."""
        path = f"ccx/service/customreport2/{self.setting('tenant')}/{self.setting('report_owner')}/{name}"
        return self.json("GET", path, params={"format": "json", **prompts}).get("Report_Entry", [])

"""Workday RaaS: basic auth (integration user), custom reports as JSON snapshots.

Settings (connection extra): `tenant` (default handoff), `report_owner` (default ISU_Handoff).
"""

from __future__ import annotations

from handoff.connectors.auth import BasicAuth
from handoff.connectors.http import SystemClient, SystemHook


class Hook(SystemHook, system="workday"):
    """The connection (type and settings from `handoff.systems`)."""


class Client(SystemClient, hook=Hook):
    def make_auth(self):
        return BasicAuth()

    def probe(self) -> str:
        return f"{len(self.report('Handoff_Workers'))} worker(s) from the Handoff_Workers report"

    def report(self, name: str, **prompts: str) -> list[dict]:
        """Every entry of a custom report (prompts as query parameters)."""
        path = f"ccx/service/customreport2/{self.setting('tenant')}/{self.setting('report_owner')}/{name}"
        return self.json("GET", path, params={"format": "json", **prompts}).get("Report_Entry", [])

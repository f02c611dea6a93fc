"""Workday RaaS (HRIS): workers (with effective-dated cost rates) and organizations.

A report has no paging, no modification time and no delete feed: every run reads the whole
snapshot, upserts the entries whose content changed, and marks ids absent from the snapshot as
deleted. Backfills and full refreshes read the current snapshot too: replaying an old snapshot
would regress raw (it holds the latest version of each worker).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.extract import models
from handoff.extract.http import BasicAuth, SourceClient
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.streams import Page, Stream, Window


class WorkdayReport(Stream):
    modified_field = None
    snapshot = True

    @property
    def id_field(self) -> str:  # type: ignore[override]
        return self.options["id_field"]

    def pages(self, client: SourceClient, window: Window, state: StreamState) -> Iterator[Page]:
        tenant = client.extra.get("tenant", "handoff")
        owner = client.extra.get("report_owner", "ISU_Handoff")
        params = {"format": "json"}
        body = client.json("GET", f"ccx/service/customreport2/{tenant}/{owner}/{self.options['report']}",
                           params=params)
        yield Page(body.get("Report_Entry", []), f"report {self.options['report']}")


SOURCE = Source(
    name="workday",
    auth=lambda: BasicAuth(),
    default_schedule="0 2 * * *",
    description="Workday RaaS (HRIS): workers, cost rates and organizations",
    settings_keys=("tenant", "report_owner"),
    streams=[
        WorkdayReport("workers", models.WdWorker, report="Handoff_Workers", id_field="Worker_ID"),
        WorkdayReport("organizations", models.WdOrganization, report="Handoff_Organizations",
                      id_field="Organization_ID"),
    ],
    tags=("hris",),
)

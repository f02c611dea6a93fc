"""Workday RaaS (HRIS): workers (with effective-dated cost rates) and organizations.

A report has no paging, no modification time and no delete feed: every run reads the whole
snapshot, upserts the entries whose content changed, and marks ids absent from the snapshot as
deleted. Backfills and full refreshes read the current snapshot too: replaying an old snapshot
would regress raw (it holds the latest version of each worker).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.connectors.workday import Client
from handoff.extract import models
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window


class WorkdayReport(Stream):
    modified_field = None
    snapshot = True

    @property
    def id_field(self) -> str:  # type: ignore[override]
        return self.options["id_field"]

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        yield Page(client.report(self.options["report"]), f"report {self.options['report']}")


SOURCE = Source(
    name="workday",
    default_schedule="0 2 * * *",
    description="Workday RaaS (HRIS): workers, cost rates and organizations",
    streams=[
        WorkdayReport("workers", models.WdWorker, report="Handoff_Workers", id_field="Worker_ID"),
        WorkdayReport("organizations", models.WdOrganization, report="Handoff_Organizations",
                      id_field="Organization_ID"),
    ],
)

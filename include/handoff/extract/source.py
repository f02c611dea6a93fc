"""A source system as the extract sees it: its streams and schedule; its client comes from
`handoff.connectors`, its connection and tags from `handoff.systems`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from handoff.connectors import connect
from handoff.connectors.http import RetryPolicy, SystemClient
from handoff.extract.stream import Stream
from handoff.systems import system


@dataclass
class Source:
    name: str
    default_schedule: str
    streams: list[Stream]
    description: str

    def __post_init__(self) -> None:
        for s in self.streams:
            s.source = self.name

    @property
    def conn_id(self) -> str:
        return system(self.name).conn_id

    @property
    def tags(self) -> tuple[str, ...]:
        return (system(self.name).role,)

    @property
    def schedule(self) -> str:
        """Cron; override with HANDOFF_EXTRACT_<SOURCE>_SCHEDULE (read at parse time, no I/O)."""
        return os.environ.get(f"HANDOFF_EXTRACT_{self.name.upper()}_SCHEDULE", self.default_schedule)

    @property
    def deadline(self) -> timedelta:
        """How long after a run is queued its data must have landed before on-call is alerted.

        Every-minute sources get 90 s (approved time must reach the ERP within 90 s at p95); others
        a quarter of an hour. Override with HANDOFF_EXTRACT_<SOURCE>_DEADLINE_SECONDS.
        """
        default = 90 if self.schedule.split()[0] == "*" else 900
        return timedelta(seconds=float(os.environ.get(f"HANDOFF_EXTRACT_{self.name.upper()}_DEADLINE_SECONDS",
                                                      default)))

    def stream(self, name: str) -> Stream:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no stream {name!r}")

    def client(self, policy: RetryPolicy | None = None) -> SystemClient:
        return connect(self.name, policy)

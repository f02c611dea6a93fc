"""A source system: its connection, authentication, default schedule and streams."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from handoff.extract.http import RetryPolicy, SourceClient, TokenAuth
from handoff.extract.streams import Stream


@dataclass
class Source:
    name: str
    auth: Callable[[], TokenAuth]
    default_schedule: str
    streams: list[Stream]
    description: str
    settings_keys: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for s in self.streams:
            s.source = self.name

    @property
    def conn_id(self) -> str:
        return f"handoff_{self.name}"

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

    def client(self, policy: RetryPolicy | None = None) -> SourceClient:
        return SourceClient(self.name, self.conn_id, self.auth(), policy, settings_keys=self.settings_keys)

"""A source system: its connection, authentication, default schedule and streams."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

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

    def stream(self, name: str) -> Stream:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no stream {name!r}")

    def client(self, policy: RetryPolicy | None = None) -> SourceClient:
        return SourceClient(self.name, self.conn_id, self.auth(), policy, settings_keys=self.settings_keys)

"""The stream contract: one object of one system, what a run reads of it, and how it is paged.

A source module (`handoff.extract.sources.<system>`) subclasses `Stream` once per way of paging;
the runner (`handoff.extract.runner`) does the rest: windows, validation, the write pipeline,
deletes, the cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from handoff.extract.load import Tombstone
from handoff.extract.state import StreamState

if TYPE_CHECKING:
    from handoff.connectors.http import SystemClient


@dataclass(frozen=True)
class Window:
    """What a run reads: modification time in [start, end); None = unbounded."""

    mode: str
    start: datetime | None = None
    end: datetime | None = None
    advance_cursor: bool = True
    # `end` was already in the past when the window was planned (a windowed load's windows but its
    # last): nothing written from now on can enter it, so a walk needs no newest-record probe.
    closed: bool = False

    def describe(self) -> str:
        s = self.start.isoformat() if self.start else "-inf"
        e = self.end.isoformat() if self.end else "now"
        return f"{self.mode} [{s}, {e})"


@dataclass
class Page:
    records: list[dict]
    label: str
    finishes: str | None = None  # a windowed load: the key of the window this (empty) page closes


def parse_ts(value: Any) -> datetime | None:
    """Parse the systems' timestamps (ISO with Z, +0000, +00:00, or a space separator) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):  # epoch milliseconds (HubSpot)
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    s = str(value)
    if s.isdigit():
        return datetime.fromtimestamp(int(s) / 1000, tz=UTC)
    if s.endswith("+0000"):
        s = s[:-5] + "+00:00"
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Stream:
    """One object of one system. Subclasses say how to page; identity comes from the model.

    `model` declares the object's required fields (pydantic); `id_field`, `modified_field` and
    `deleted_field` name the model attributes that give identity, version and deletion.

    Deletes come one of three ways: in the records themselves (`deleted_field`), reported by the
    system for the run's window (`tombstones`, every run), or found by a sweep that is too costly
    for every minute and runs at the reconcile cadence (`swept_tombstones`: a listing of deleted records,
    or `live_ids` when the system has no delete feed at all).
    """

    source: str = ""
    name: str = ""
    model: type[BaseModel]
    id_field = "id"
    modified_field: str | None = "updated_at"
    deleted_field: str | None = None
    snapshot = False  # a full report each run; ids not in it are deleted
    reconcile = False  # list live ids at the reconcile cadence to find hard deletes
    resolution = timedelta(seconds=1)  # of the modification time the system filters on
    window_records = 20_000  # a windowed load's target records per window (`handoff.extract.windows`)

    def __init__(self, name: str, model: type[BaseModel], **options: Any):
        self.name, self.model = name, model
        self.options = options
        self._validate = model.__pydantic_validator__.validate_python

    # -- to implement ----------------------------------------------------------------------------
    def pages(self, client: SystemClient, window: Window, state: StreamState) -> Iterator[Page]:
        raise NotImplementedError

    def tombstones(self, client: SystemClient, window: Window, state: StreamState) -> Iterator[list[Tombstone]]:
        """Deletes the system reports for the run's window (NetSuite DeletedRecord): every run."""
        return iter(())

    def swept_tombstones(self, client: SystemClient) -> Iterator[list[Tombstone]] | None:
        """Deletes a system lists only in full (HubSpot archived): at the reconcile cadence.
        None: this stream has no such listing."""
        return None

    def count(self, client: SystemClient, since: datetime, before: datetime) -> int | None:
        """How many records the system holds modified in [since, before), from one cheap request;
        None: the system cannot say. Lets a run skip re-reading the records at the cursor's own
        timestamp when it already proved it has all of them (see `runner`)."""
        return None

    def bounds(self, client: SystemClient) -> tuple[datetime, datetime] | None:
        """The oldest and newest modification time the system holds, from cheap requests; None: the
        system cannot say (or holds nothing), and first loads walk it in one sequential window."""
        return None

    def modified_at_offset(self, client: SystemClient, since: datetime | None, offset: int) -> datetime | None:
        """The modification time of the record at `offset` in modification order from `since`
        (one cheap request), or None when the system cannot say: windowed loads then size their
        windows by bisecting time with `count` instead of cutting at quantiles."""
        return None

    def min_window(self, client: SystemClient) -> int:
        """The fewest records worth a window of their own (Salesforce: `bulk_threshold`, below
        which a window would be read through REST instead of one Bulk job)."""
        return 1

    def prefers_window(self, client: SystemClient, total: int) -> bool:
        """Whether a first load or full refresh of `total` records is read as a windowed load even
        when it fits one window (Salesforce: past `bulk_threshold`, one Bulk API job)."""
        return False

    def live_ids(self, client: SystemClient) -> Iterator[list[str]]:
        """Every id the system still lists (reconciliation)."""
        raise NotImplementedError

    def confirm_missing(self, client: SystemClient, ids: list[str]) -> set[str]:
        """Of `ids` absent from a listing, those the system really no longer has."""
        return set(ids)

    # -- shared ----------------------------------------------------------------------------------
    def identify(self, record: dict) -> tuple[str, datetime | None, bool]:
        """Validate the required fields; returns (id, modified, deleted) or raises ValidationError."""
        m = self._validate(record)
        modified = getattr(m, self.modified_field) if self.modified_field else None
        deleted = bool(getattr(m, self.deleted_field)) if self.deleted_field else False
        return str(getattr(m, self.id_field)), modified, deleted

    def fields(self, record: dict) -> Iterable[str]:
        """Field names used for schema-drift detection."""
        return record.keys()

    def declared_fields(self) -> list[str]:
        return [f.alias or name for name, f in self.model.model_fields.items() if f.is_required()]

    @property
    def table(self) -> str:
        return f"raw_{self.source}.{self.name}"

"""The extract's sources: one module per system of `handoff.systems`, found by name."""

from __future__ import annotations

from importlib import import_module

from handoff.extract.source import Source
from handoff.extract.stream import Stream
from handoff.systems import NAMES, system

SOURCE_NAMES = NAMES


def get_source(name: str) -> Source:
    system(name)  # unknown names fail here, listing the known ones
    return import_module(f"handoff.extract.sources.{name}").SOURCE


def all_streams() -> list[Stream]:
    return [s for name in SOURCE_NAMES for s in get_source(name).streams]


def raw_tables() -> list[tuple[str, str]]:
    """(source, stream) of every declared stream: the raw tables `handoff.warehouse.migrate` ensures."""
    return [(s.source, s.name) for s in all_streams()]

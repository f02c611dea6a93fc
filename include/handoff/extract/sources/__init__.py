"""Registry of the sources the extract layer knows."""

from __future__ import annotations

from importlib import import_module

from handoff.extract.source import Source
from handoff.extract.streams import Stream

SOURCE_NAMES = ("salesforce", "hubspot", "kantata", "workday", "netsuite")


def get_source(name: str) -> Source:
    if name not in SOURCE_NAMES:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
    return import_module(f"handoff.extract.sources.{name}").SOURCE


def all_streams() -> list[Stream]:
    return [s for name in SOURCE_NAMES for s in get_source(name).streams]

"""Assets that mean "data changed".

A task that may or may not change its table declares an `AssetAlias` as its outlet and adds an
event for the table's asset only when rows changed, with the counts in the event's extra. DAGs
scheduled on the asset then run only for real changes. Freshness that does not depend on rows
changing (a quiet feed vs a dead one) is `ops.stream_freshness`, from the extract run log.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAlias

DEFAULT_GROUP = "raw"


def raw_asset(source: str, stream: str) -> Asset:
    """The asset of `raw_<source>.<stream>`; schedule dbt on these."""
    return Asset(name=f"raw_{source}.{stream}", uri=f"postgres://warehouse:5432/handoff/raw_{source}/{stream}",
                 group=DEFAULT_GROUP)


def outbox_asset(model: str) -> Asset:
    """The asset of the dbt outbox model `outbox.<model>` (what a reverse sync posts from): the
    transform DAG announces it when a cycle rebuilt the model and its tests passed."""
    return Asset(name=f"outbox.{model}", uri=f"postgres://warehouse:5432/handoff/outbox/{model}", group="outbox")


def changes_alias(asset: Asset) -> AssetAlias:
    """The outlet through which a task announces changes of `asset` (and only changes)."""
    return AssetAlias(name=f"{asset.name}:changes", group=asset.group)


def announce_change(context: dict, asset: Asset, changed: int, extra: dict[str, Any]) -> bool:
    """Add an event for `asset` through its alias when `changed` > 0; True when one was added."""
    if changed <= 0:
        return False
    events = context.get("outlet_events")
    if events is not None:
        events[changes_alias(asset)].add(asset, extra={"changed": changed, **extra})
    return True

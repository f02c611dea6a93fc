"""What a transform cycle rebuilds, and the record of each cycle in `ops.transform_runs`.

A cycle rebuilds what is downstream of the raw streams that changed since the last good cycle:
`dbt build --select source:raw_<src>.<stream>+ ...` over the (source, stream) of every extract
attempt in `ops.extract_runs` with `changed > 0` that finished after the last good cycle's
watermark, or is still running (its committed batches are already in raw). A cycle where no raw
row changed selects nothing and runs no dbt at all.

Why not `source_status:fresher+`: dbt's freshness of a source is measured from the stream's last
successful extract (`loaded_at_query` over `ops.stream_freshness`), so that a quiet feed is not
taken for a dead one; that timestamp moves every minute whether or not a row changed, so
`fresher+` would rebuild everything every minute. The extract run log says exactly which attempts
changed raw rows, so it is the better source of "what changed".

The watermark is the database's `now()` of the transaction that read `ops.extract_runs`: an
attempt that finishes later has a later `finished_at` and is picked up next time (its rows may be
built twice, never missed). The watermark advances only with a cycle that succeeded: after a
failed cycle the next one selects the same streams again (plus whatever changed since). The
first cycle on a warehouse (no good cycle yet) builds everything; a model the manifest has but the
warehouse does not (added since) is selected with its dependents. Runs with an explicit `select`
(people rerunning from the UI) are recorded but never advance the watermark.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psycopg import pq

log = logging.getLogger(__name__)

# Cycle modes
CHANGED, FULL, MANUAL = "changed", "full", "manual"
# Outcomes
RUNNING, SUCCESS, FAILED, NOTHING = "running", "success", "failed", "nothing_changed"


def source_name(source: str, stream: str) -> str:
    """The dbt source (and raw asset) name of a stream: raw_<source>.<stream>."""
    return f"raw_{source}.{stream}"


@dataclass(frozen=True)
class ProjectSources:
    """The dbt sources of the project, from its manifest: {"raw_kantata.time_entries": unique_id}."""

    by_name: dict[str, str] = field(default_factory=dict)
    with_freshness: frozenset[str] = frozenset()  # names of the sources with a freshness threshold
    # model name -> (schema, relation name) of the models that materialize as a relation
    relations: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ProjectSources:
        sources = (manifest.get("sources") or {}).items()
        fresh = frozenset(f"{s['source_name']}.{s['name']}" for _, s in sources if _has_threshold(s.get("freshness")))
        relations = {
            n["name"]: (n["schema"], n.get("alias") or n["name"])
            for n in (manifest.get("nodes") or {}).values()
            if n.get("resource_type") == "model" and (n.get("config") or {}).get("materialized") != "ephemeral"
            and (n.get("config") or {}).get("enabled", True)
        }
        return cls({f"{s['source_name']}.{s['name']}": uid for uid, s in sources}, fresh, relations)

    @classmethod
    def read(cls, path: Path) -> ProjectSources:
        return cls.from_manifest(json.loads(Path(path).read_text()))

    def raw_streams(self) -> list[tuple[str, str]]:
        """(source, stream) of every `raw_<source>` dbt source, sorted."""
        out = []
        for name in self.by_name:
            schema, _, table = name.partition(".")
            if schema.startswith("raw_"):
                out.append((schema.removeprefix("raw_"), table))
        return sorted(out)


def _has_threshold(freshness: dict | None) -> bool:
    return any(((freshness or {}).get(k) or {}).get("count") for k in ("warn_after", "error_after"))


@dataclass
class Plan:
    """One cycle's decision; travels from the plan task to the producer as XCom (a dict)."""

    mode: str  # changed | full | manual
    build: bool  # False: nothing to rebuild, no dbt
    select: list[str]  # dbt --select arguments ([] with build=True: the whole project)
    changed: list[str]  # raw_<src>.<stream> that changed (also those dbt does not read)
    full_refresh: bool = False
    watermark: str | None = None  # ISO timestamp
    previous_watermark: str | None = None
    run_id: int | None = None
    followed: list[str] = field(default_factory=list)  # root model tasks the plan did not skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(**data)

    def selects_root(self, node: dict[str, Any], sources: ProjectSources) -> bool:
        """Whether the root model `node` (cosmos' dbt_node_config: name, depends_on) is rebuilt."""
        if not self.build:
            return False
        if self.mode != CHANGED:
            return True  # full build, or a manual selection dbt resolves itself
        if f"{node.get('name')}+" in self.select:
            return True
        names = {uid: name for name, uid in sources.by_name.items()}
        return any(f"source:{names.get(dep)}+" in self.select for dep in node.get("depends_on") or [])


def read_changes(conn) -> tuple[Any, list[tuple[str, str]], Any]:
    """(previous good watermark or None, (source, stream) that changed raw after it, watermark now).

    One REPEATABLE READ transaction, so that the rows and the new watermark agree.
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.rollback()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(
            f"""SELECT watermark FROM ops.transform_runs
                WHERE outcome IN ('{SUCCESS}', '{NOTHING}') AND mode <> '{MANUAL}'
                ORDER BY watermark DESC LIMIT 1"""
        ).fetchone()
        previous = row[0] if row else None
        watermark = conn.execute("SELECT now()").fetchone()[0]
        rows = conn.execute(
            """SELECT DISTINCT source, stream FROM ops.extract_runs
               WHERE changed > 0 AND (finished_at IS NULL OR finished_at > %s)
               ORDER BY source, stream""",
            (previous if previous is not None else "-infinity",),
        ).fetchall()
    return previous, [(s, st) for s, st in rows], watermark


def missing_models(conn, sources: ProjectSources) -> list[str]:
    """Models of the manifest with no relation in the warehouse (new since the last build, or never
    built). pg_catalog, not information_schema: it lists relations whatever the role may read."""
    if not sources.relations:
        return []
    wanted = sorted(set(sources.relations.values()))
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([s for s, _ in wanted], [r for _, r in wanted]),
    ).fetchall()
    conn.rollback()
    present = {(s, r) for s, r in rows}
    return sorted(name for name, rel in sources.relations.items() if rel not in present)


def plan_cycle(conn, sources: ProjectSources, *, select: str = "", full_refresh: bool = False) -> Plan:
    """Decide what this cycle builds (no bookkeeping; see `start_run`)."""
    previous, changed, watermark = read_changes(conn)
    names = [source_name(s, st) for s, st in changed]
    iso = watermark.isoformat()
    prev_iso = previous.isoformat() if previous else None
    if select.strip():
        return Plan(MANUAL, True, select.split(), names, full_refresh, iso, prev_iso)
    if full_refresh or previous is None:
        return Plan(FULL, True, [], names, full_refresh, iso, prev_iso)
    unknown = [n for n in names if n not in sources.by_name]
    if unknown:
        log.info("changed streams no dbt model reads (not selected): %s", ", ".join(unknown))
    selected = [f"source:{n}+" for n in names if n in sources.by_name]
    missing = missing_models(conn, sources)
    if missing:
        log.info("models not in the warehouse yet (selected with their dependents): %s", ", ".join(missing))
        selected += [f"{name}+" for name in missing]
    return Plan(CHANGED, bool(selected), selected, names, False, iso, prev_iso)


def start_run(conn, plan: Plan, dag_id: str | None, dag_run_id: str | None) -> int:
    with conn.transaction():
        run_id = conn.execute(
            """INSERT INTO ops.transform_runs (dag_id, dag_run_id, mode, watermark, previous_watermark,
                   changed_sources, select_args, full_refresh, outcome)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id""",
            (dag_id, dag_run_id, plan.mode, plan.watermark, plan.previous_watermark, plan.changed,
             " ".join(plan.select) if plan.build else None, plan.full_refresh,
             RUNNING if plan.build else NOTHING),
        ).fetchone()[0]
        if not plan.build:
            conn.execute("UPDATE ops.transform_runs SET finished_at = now() WHERE run_id = %s", (run_id,))
    return run_id


def finish_run(conn, run_id: int, outcome: str, built: list[str], failed: list[str],
               error: str | None = None) -> None:
    with conn.transaction():
        conn.execute(
            """UPDATE ops.transform_runs SET finished_at = now(), outcome = %s, nodes_built = %s,
                   nodes_failed = %s, error = %s WHERE run_id = %s""",
            (outcome, sorted(built), sorted(failed), error, run_id),
        )

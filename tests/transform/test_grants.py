"""Grants, tested by connecting as the analyst: canonical and marts readable; raw, ops, staging,
intermediate, restricted and outbox refused; no per-person cost column anywhere the analyst sees."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import errors, sql

READABLE = ("canonical", "marts")
REFUSED = ("staging", "intermediate", "restricted", "outbox")
COST = re.compile(r"cost|salary|salaries|laborcost|labor_cost|wage|compensation", re.I)
# Names that are a person's rate or pay whatever the table (an aggregated rate would be named blended_/avg_...).
PER_PERSON_COST = re.compile(r"^(hourly_)?cost_rate$|salary|salaries|laborcost|labor_cost|wage|compensation", re.I)
PERSON_KEYS = {"resource_id", "kantata_user_id", "netsuite_employee_id", "worker_id", "employee_id", "user_id",
               "email", "full_name", "resource_name"}


def relations(world, schema: str) -> list[str]:
    rows = world.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1", schema)
    return [r[0] for r in rows]


def refused(url: str, schema: str, rel: str) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, rel))).fetchall()
        except errors.InsufficientPrivilege:
            return True
    return False


def test_analyst_reads_every_canonical_and_mart_relation(dbt_world):
    for layer in READABLE:
        schema = dbt_world.schema(layer)
        rels = relations(dbt_world, schema)
        assert rels, f"no relation in {schema}"
        with psycopg.connect(dbt_world.analyst_url) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "handoff_analyst"
            for rel in rels:
                conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, rel))).fetchall()


@pytest.mark.parametrize("schema,rel", [
    ("raw_kantata", "time_entries"), ("raw_workday", "workers"), ("raw_netsuite", "employee"),
    ("ops", "extract_runs"), ("ops", "stream_freshness"), ("ops", "rejected_records"),
])
def test_analyst_is_refused_raw_and_ops(dbt_world, schema, rel):
    assert refused(dbt_world.analyst_url, schema, rel), f"handoff_analyst can read {schema}.{rel}"


def test_analyst_is_refused_every_raw_table(dbt_world):
    schemas = [r[0] for r in dbt_world.query(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'raw\\_%' OR nspname = 'ops'")]
    readable = [f"{s}.{r}" for s in schemas for r in relations(dbt_world, s)
                if not refused(dbt_world.analyst_url, s, r)]
    assert readable == []


def test_analyst_is_refused_restricted_staging_intermediate_outbox(dbt_world):
    assert relations(dbt_world, dbt_world.schema("restricted")), "restricted schema is empty"
    for must in ("resource_cost_rate", "time_entry_cost"):
        assert must in relations(dbt_world, dbt_world.schema("restricted"))
    readable, checked = [], 0
    for layer in REFUSED:
        schema = dbt_world.schema(layer)
        for rel in relations(dbt_world, schema):
            checked += 1
            if not refused(dbt_world.analyst_url, schema, rel):
                readable.append(f"{schema}.{rel}")
    assert checked > 2
    assert readable == []


def test_restricted_is_readable_by_its_roles_not_analyst(dbt_world):
    """The transformer built restricted; the cost rates are really there (so the refusal above means something)."""
    n = dbt_world.query(f"SELECT count(*) FROM {dbt_world.schema('restricted')}.resource_cost_rate "
                        "WHERE hourly_cost_rate > 0", url=dbt_world.transformer_url)[0][0]
    assert n > 0


def analyst_columns(world) -> dict[tuple[str, str], list[str]]:
    """Columns the analyst can see (information_schema shows only what the role has privileges on)."""
    rows = world.query(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position",
        url=world.analyst_url)
    out: dict[tuple[str, str], list[str]] = {}
    for s, t, c in rows:
        out.setdefault((s, t), []).append(c)
    return out


def test_analyst_sees_only_canonical_and_marts(dbt_world):
    schemas = {s for s, _ in analyst_columns(dbt_world)}
    assert schemas <= {dbt_world.schema(x) for x in READABLE}, schemas


def test_no_per_person_cost_visible_to_analyst(dbt_world):
    cols = analyst_columns(dbt_world)
    assert any(s == dbt_world.schema("canonical") for s, _ in cols), "analyst sees no canonical column at all"
    rate_cols = [f"{s}.{t}.{c}" for (s, t), cs in cols.items() for c in cs if PER_PERSON_COST.search(c)]
    assert rate_cols == [], f"per-person cost rate/salary columns visible to the analyst: {rate_cols}"
    # A cost amount next to a person key is a per-person cost (cost / hours = the rate).
    per_person = [f"{s}.{t}: {[c for c in cs if COST.search(c)]}" for (s, t), cs in cols.items()
                  if PERSON_KEYS & set(cs) and any(COST.search(c) for c in cs)]
    assert per_person == [], f"cost at resource granularity visible to the analyst: {per_person}"

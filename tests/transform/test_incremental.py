"""After the world ticks (edits, hard deletes, approvals, new deals), an incremental dbt build equals a
full refresh, row for row, in every canonical, restricted, marts and outbox relation.

Then, with the dimensions unchanged, time entries alone change in raw (moved to another project, person
or week, un-approved, deleted, edited, new): the models downstream of canonical.time_entry take their
delta path (macros/delta.sql: only the keys the changes touched are recomputed), and the incremental
`dbt build` (its data tests scoped to the rewritten rows) still equals a full refresh row for row.

This test moves its world, so it works on its own copy of the session world (database cloned,
own simulators at the same seed): the session's `dbt_world` stays at tick 0 for the truth tests.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

LAYERS = ("canonical", "restricted", "marts", "outbox")
TICKS = 48
# Columns that legitimately depend on when the build ran, not on the data (none expected in
# canonical/restricted): build stamps, and lags measured against now().
TIME_OF_BUILD = re.compile(r"^(built_at|dbt_\w+|_dbt_\w+|as_of|as_of_at|refreshed_at|computed_at|generated_at|"
                           r"\w*lag_seconds|\w*lag_minutes|\w*age_seconds|\w*age_minutes|\w*age_hours|seconds_since_\w+|"
                           r"minutes_since_\w+|is_stale|freshness_status|status_as_of)$")
TIME_OF_BUILD_TABLES = {"rpt_integration_health"}  # per-feed lag vs now(): compared without volatile columns


@pytest.fixture(scope="module")
def moved(make_dbt_world, dbt_world):
    # A copy of the session world (tick 0, built); dbt's tests ran there: models only here.
    world = make_dbt_world(clone_of=dbt_world, build="run")
    c = world.schema("canonical")
    before = {
        "entries": {r[0] for r in world.query(f"SELECT time_entry_id FROM {c}.time_entry")},
        "approved": {r[0] for r in world.query(f"SELECT time_entry_id FROM {c}.time_entry WHERE is_approved")},
        "engagements": {r[0] for r in world.query(f"SELECT engagement_id FROM {c}.engagement")},
        "projects": {r[0] for r in world.query(f"SELECT project_id FROM {c}.project")},
    }
    world.sims.advance(TICKS)
    runs = {f"{r.source}.{r.stream}": r for r in world.extract()}
    # The incremental build and the full refresh (another schema prefix) are independent: run them side by side.
    with ThreadPoolExecutor(2) as pool:
        inc = pool.submit(world.build, command="run", strict=True)
        fr = pool.submit(world.build, "--full-refresh", prefix="fr_", command="run", strict=True)
        incremental, full = inc.result(), fr.result()
    return world, before, runs, incremental, full


def test_the_world_moved(moved):
    world, before, runs, _, _ = moved
    te = runs["kantata.time_entries"]
    assert te.changed > 100 and te.deletes >= 1, te
    c = world.schema("canonical")
    after = {r[0] for r in world.query(f"SELECT time_entry_id FROM {c}.time_entry")}
    assert after - before["entries"], "new time entries reached canonical"
    assert before["entries"] - after, "hard-deleted time entries left canonical"
    approved = {r[0] for r in world.query(f"SELECT time_entry_id FROM {c}.time_entry WHERE is_approved")}
    assert (approved - before["approved"]) & before["entries"], "approvals of existing entries reached canonical"
    assert {r[0] for r in world.query(f"SELECT engagement_id FROM {c}.engagement")} - before["engagements"]
    assert {r[0] for r in world.query(f"SELECT project_id FROM {c}.project")} - before["projects"]


def test_time_entry_is_incremental(moved):
    world = moved[0]
    manifest = json.loads((world.target_dir() / "manifest.json").read_text())
    mat = {n["name"]: n["config"]["materialized"] for n in manifest["nodes"].values()
           if n["resource_type"] == "model" and n["schema"] == world.schema("canonical")}
    assert mat.get("time_entry") == "incremental", mat


def test_incremental_time_entries_equal_truth(moved):
    world = moved[0]
    truth = world.sims.truth("kantata", "time_entries")["records"]
    want = {r["id"]: (r["time_in_minutes"], r["approved"], r["updated_at"][:19]) for r in truth}
    rows = world.query(f"SELECT coalesce(source_ids->>'kantata', time_entry_id), (hours * 60)::int, is_approved, "
                       f"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
                       f"FROM {world.schema('canonical')}.time_entry")
    got = {r[0]: tuple(r[1:]) for r in rows}
    assert (sorted(set(got) - set(want))[:20], sorted(set(want) - set(got))[:20]) == ([], [])
    diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert dict(list(diff.items())[:20]) == {}


def relations(world, schema: str) -> list[str]:
    return [r[0] for r in world.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1", schema)]


def columns(world, schema: str, rel: str) -> list[tuple[str, str]]:
    return world.query("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", schema, rel)


def _select(schema: str, rel: str, cols: list[tuple[str, str]]) -> str:
    exprs = [f'"{c}"::jsonb' if t == "json" else f'"{c}"' for c, t in cols]
    return f'SELECT {", ".join(exprs)} FROM "{schema}"."{rel}"'


@pytest.mark.parametrize("layer", LAYERS)
def test_incremental_equals_full_refresh(moved, layer):
    assert_layer_equal(moved[0], layer)


def test_intermediate_after_ticks_equals_full_refresh(moved):
    assert_layer_equal(moved[0], "intermediate", only=DELTA_INTERMEDIATE)


def assert_layer_equal(world, layer, only: tuple[str, ...] = ()):
    inc, full = world.schema(layer), world.schema(layer, prefix="fr_")
    rels = relations(world, inc)
    if only:
        rels = [r for r in rels if r in only]
        assert rels == sorted(only), rels
    if layer != "outbox":
        assert rels, f"nothing in {inc}"
    assert rels == [r for r in relations(world, full) if not only or r in only]
    diffs, compared = {}, Counter()
    for rel in rels:
        cols = columns(world, inc, rel)
        assert cols == columns(world, full, rel), rel
        cols = [(c, t) for c, t in cols if not TIME_OF_BUILD.match(c)]
        if rel in TIME_OF_BUILD_TABLES:
            cols = [(c, t) for c, t in cols if not t.startswith(("timestamp", "interval"))
                    and not re.search(r"lag|age|since|stale|status", c)]
        a, b = _select(inc, rel, cols), _select(full, rel, cols)
        only_inc = world.query(f"({a}) EXCEPT ALL ({b}) LIMIT 5")
        only_full = world.query(f"({b}) EXCEPT ALL ({a}) LIMIT 5")
        compared[rel] = world.query(f"SELECT count(*) FROM ({a}) x")[0][0]
        if only_inc or only_full:
            diffs[rel] = {"columns": [c for c, _ in cols], "only_incremental": only_inc, "only_full_refresh": only_full}
    assert diffs == {}
    if layer == "canonical":
        assert compared["time_entry"] > 1000, compared


def test_exceptions_after_ticks_equal_the_cases(moved):
    """The incrementally built exceptions mart still names exactly the world's cases after it moved
    (edits after approval grow with the ticks; currency mix from the workspaces' truth, which includes
    projects opened by the ticks)."""
    world = moved[0]
    cases = world.sims.cases()
    rows = world.query(f"SELECT exception_type, entity_id, related_ids "
                       f"FROM {world.schema('marts')}.rpt_reconciliation_exceptions")
    got: dict[str, set] = {}
    for typ, eid, related in rows:
        got.setdefault(typ, set()).add(eid if typ != "hubspot_duplicates" else (eid, related.get("salesforce_account_id")))
    want = {
        "closed_won_without_project": set(cases["closed_won_without_project"]),
        "time_on_closed_project": set(cases["time_on_closed_project"]["time_entry_ids"]),
        "employee_missing_in_netsuite": set(cases["employee_missing_in_netsuite"]),
        "hubspot_duplicates": {(str(k), v) for k, v in cases["hubspot_duplicates"].items()},
        "edited_after_approval": set(cases["edited_after_approval"]),
        "currency_mix": {w["id"] for w in world.sims.truth("kantata", "workspaces")["records"]},
    }
    diff = {k: (sorted(got.get(k, set()) - v)[:10], sorted(v - got.get(k, set()))[:10]) for k, v in want.items()}
    assert {k: d for k, d in diff.items() if d != ([], [])} == {}


# ---- then time entries alone change (after the tests above: they compare with the world's truth) ----
# Models that recompute only what the time entry changes touched when their small inputs are unchanged.
DELTA_MODELS = ("fct_utilization_weekly", "int_project_time_daily", "outbox_time_entries",
                "int_submission_approval_stamps", "int_erp_posting_reconciliation")
# The intermediate tables the delta models maintain (their bookkeeping aside: time_entry__changes,
# delta__watermarks, time_entry__person_map differ by nature): equal to a full refresh as well.
DELTA_INTERMEDIATE = ("int_erp_posting_reconciliation", "int_project_time_daily", "int_submission_approval_stamps")
CHANGE_SQL = """
WITH picked AS (
    SELECT source_id, row_number() OVER (ORDER BY md5(source_id || 'delta')) AS n
    FROM raw_kantata.time_entries
    WHERE NOT is_deleted AND payload->>'approved' = 'true'
    ORDER BY md5(source_id || 'delta') LIMIT 70
),
other AS (  -- another workspace and another user than the entry's own
    SELECT p.source_id, p.n,
           (SELECT x.payload->'workspace_id' FROM raw_kantata.time_entries AS x
            WHERE x.payload->>'workspace_id' <> t.payload->>'workspace_id' ORDER BY x.source_id LIMIT 1) AS workspace_id,
           (SELECT x.payload->'user_id' FROM raw_kantata.time_entries AS x
            WHERE x.payload->>'user_id' <> t.payload->>'user_id' ORDER BY x.source_id LIMIT 1) AS user_id
    FROM picked AS p JOIN raw_kantata.time_entries AS t USING (source_id)
)
UPDATE raw_kantata.time_entries AS t SET
    payload = jsonb_set(CASE
        WHEN o.n <= 10 THEN jsonb_set(t.payload, '{workspace_id}', o.workspace_id)
        WHEN o.n <= 20 THEN jsonb_set(t.payload, '{user_id}', o.user_id)
        WHEN o.n <= 30 THEN jsonb_set(t.payload, '{date_performed}',
                                      to_jsonb(((t.payload->>'date_performed')::date + 7)::text))
        WHEN o.n <= 40 THEN jsonb_set(t.payload, '{approved}', 'false'::jsonb)
        WHEN o.n <= 60 THEN jsonb_set(t.payload, '{time_in_minutes}',
                                      to_jsonb((t.payload->>'time_in_minutes')::int + 30))
        ELSE t.payload END, '{updated_at}', to_jsonb(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
    is_deleted = o.n > 60,
    source_modified_at = now(), loaded_at = now(), batch_id = 'test-delta'
FROM other AS o
WHERE o.source_id = t.source_id
"""
NEW_ENTRY_SQL = """
INSERT INTO raw_kantata.time_entries (source_id, source_modified_at, is_deleted, batch_id, loaded_at, payload)
SELECT source_id || '-new', now(), false, 'test-delta', now(),
       jsonb_set(payload, '{id}', to_jsonb(source_id || '-new'))
FROM raw_kantata.time_entries WHERE NOT is_deleted ORDER BY md5(source_id || 'new') LIMIT 5
"""


@pytest.fixture(scope="module")
def delta_moved(moved):
    """Time entries alone change after the first incremental build; then the incremental `dbt build` and
    a full refresh (models only) side by side."""
    world = moved[0]
    c = world.schema("canonical")
    before = {r[0]: r[1:] for r in world.query(
        f"SELECT time_entry_id, project_id, resource_id, date_performed, is_approved FROM {c}.time_entry")}
    world.query(CHANGE_SQL)
    world.query(NEW_ENTRY_SQL)
    with ThreadPoolExecutor(2) as pool:
        inc = pool.submit(world.build, command="build", strict=True)
        fr = pool.submit(world.build, "--full-refresh", prefix="fr_", command="run", strict=True)
        incremental, full = inc.result(), fr.result()
    return world, before, incremental, full


def test_delta_changes_reached_canonical(delta_moved):
    world, before, incremental, _ = delta_moved
    after = {r[0]: r[1:] for r in world.query(
        f"SELECT time_entry_id, project_id, resource_id, date_performed, is_approved "
        f"FROM {world.schema('canonical')}.time_entry")}
    common = set(before) & set(after)
    moved = {k for k in common if before[k][0] != after[k][0]}
    assert len(moved) >= 5, "entries moved to another project"
    assert sum(1 for k in common if before[k][1] != after[k][1]) >= 5, "entries moved to another person"
    assert sum(1 for k in common if before[k][2] != after[k][2]) >= 5, "entries moved to another week"
    assert sum(1 for k in common if before[k][3] and not after[k][3]) >= 5, "entries un-approved"
    assert len(set(before) - set(after)) >= 5, "entries deleted"
    assert len(set(after) - set(before)) >= 5, "entries added"
    assert incremental["failures"] == [], incremental["failures"]


def test_delta_models_took_their_delta_path(delta_moved):
    world = delta_moved[0]
    rows = dict(world.query(f"SELECT model, last_delta FROM {world.schema('intermediate')}.delta__watermarks"))
    got = {m: rows.get(f"{s}.{m}") for m in DELTA_MODELS
           for s in (world.schema("marts"), world.schema("intermediate"), world.schema("outbox"))
           if f"{s}.{m}" in rows}
    assert got == dict.fromkeys(DELTA_MODELS, True), rows


@pytest.mark.parametrize("layer", LAYERS)
def test_delta_incremental_equals_full_refresh(delta_moved, layer):
    assert_layer_equal(delta_moved[0], layer)


def test_delta_intermediate_equals_full_refresh(delta_moved):
    """int_project_time_daily and int_submission_approval_stamps are maintained additively (after minus
    before), int_erp_posting_reconciliation by key: their rows equal a full refresh's."""
    assert_layer_equal(delta_moved[0], "intermediate", only=DELTA_INTERMEDIATE)

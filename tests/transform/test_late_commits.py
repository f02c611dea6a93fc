"""canonical.time_entry re-reads the raw versions written since its previous build read raw, not a
fixed margin before its newest row (which re-read a whole first load in every cycle for ten minutes).
A load transaction that started before that build and committed after it carries an older loaded_at:
the extract run log (ops.extract_runs) says a run was still writing then, so its versions are built
too, exactly once (macro written_since)."""

from __future__ import annotations


def test_versions_committed_after_the_build_by_a_run_still_writing_then_are_built(make_dbt_world, dbt_world):
    world = make_dbt_world(clone_of=dbt_world)
    c, i = world.schema("canonical"), world.schema("intermediate")
    built_at = world.query(f"SELECT built_at FROM {i}.delta__watermarks WHERE model = %s", f"{c}.time_entry")[0][0]
    # A run that started 5 minutes before the previous build and was still writing then: the
    # transaction it began 4 minutes before the build commits only now.
    world.query("INSERT INTO ops.extract_runs (batch_id, source, stream, mode, started_at) "
                "VALUES ('late-run', 'kantata', 'time_entries', 'incremental', %s - interval '5 minutes')", built_at)
    world.query("""INSERT INTO raw_kantata.time_entries (source_id, source_modified_at, is_deleted, batch_id, loaded_at, payload)
                   SELECT source_id || '-late', source_modified_at, false, 'late-run', %s - interval '4 minutes',
                          jsonb_set(payload, '{id}', to_jsonb(source_id || '-late'))
                   FROM raw_kantata.time_entries WHERE NOT is_deleted ORDER BY source_id LIMIT 3""", built_at)
    world.query("UPDATE ops.extract_runs SET outcome = 'success', finished_at = now(), changed = 3 "
                "WHERE batch_id = 'late-run'")
    entries_before = world.query(f"SELECT count(*) FROM {c}.time_entry")[0][0]

    world.build("--select", "time_entry", command="run", strict=True)

    late = world.query(f"SELECT time_entry_id FROM {c}.time_entry WHERE time_entry_id LIKE '%-late' ORDER BY 1")
    assert len(late) == 3, late
    assert world.query(f"SELECT count(*) FROM {c}.time_entry")[0][0] == entries_before + 3
    # its watermark is this build's
    after = world.query(f"SELECT built_at FROM {i}.delta__watermarks WHERE model = %s", f"{c}.time_entry")[0][0]
    assert after > built_at
    # this build recorded exactly the three new entries as its changes (nothing else was re-read as new)
    recorded = world.query(f"SELECT time_entry_id FROM {i}.time_entry__changes "
                           f"WHERE changed_at = (SELECT max(changed_at) FROM {i}.time_entry__changes) ORDER BY 1")
    assert sorted({r[0] for r in recorded}) == [r[0] for r in late]
    # and the next build's watermark moved past them: a build with nothing new records nothing
    world.build("--select", "time_entry", command="run", strict=True)
    assert world.query(f"SELECT count(*) FROM {c}.time_entry")[0][0] == entries_before + 3
    assert world.query(f"SELECT max(changed_at) FROM {i}.time_entry__changes")[0][0] == \
        world.query(f"SELECT max(changed_at) FROM {i}.time_entry__changes WHERE time_entry_id LIKE '%-late'")[0][0]

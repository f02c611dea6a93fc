"""The reverse-sync DAGs under `dag.test()`: the dry run sends and writes nothing, a run posts every
postable outbox row once (a second run posts nothing), the replay form refuses an empty
selection and replays a fixed dead letter; the transform DAG announces the outbox assets the
sync is scheduled on."""

from __future__ import annotations

import pytest
from reverse_helpers import PREFIX, execute, ledger, outbox, states


@pytest.fixture
def dags(world, airflow_env, monkeypatch):
    airflow_env.connect(world.sims, world.loader_url)
    monkeypatch.setenv("HANDOFF_DBT_SCHEMA_PREFIX", PREFIX)
    monkeypatch.setenv("HANDOFF_DEADLINES", "off")
    from handoff.reverse.dag import build_replay_dag, build_sync_dag

    return build_sync_dag(), build_replay_dag()


def run(dag, **conf) -> tuple[str, dict[str, str], dict[str, object]]:
    """dag.test(); (run state, {task: state}, {task: return value}). `dry_run` is always sent: under
    dag.test() a run's conf stays in the DAG's params for the next run."""
    conf.setdefault("dry_run", False)
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel as XCom
    from airflow.utils.session import create_session

    dag_run = dag.test(run_conf=conf)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).all()
        task_states = {ti.task_id: str(ti.state) for ti in tis}
        values = {x.task_id: XCom.deserialize_value(x) for x in session.query(XCom).filter_by(
            dag_id=dag.dag_id, run_id=dag_run.run_id, key="return_value")}
    return str(dag_run.state), task_states, values


def live_timebills(world) -> dict[str, list]:
    return world.sims.truth("netsuite", "timebill_live")["by_external_id"]


def test_dry_run_lists_and_sends_nothing_then_a_run_posts_each_once(world, dags):
    sync_dag, _ = dags
    entries = outbox(world)
    postable = {r["external_id"] for r in entries if r["is_postable"]}
    blocked = {r["external_id"] for r in entries if not r["is_postable"]}
    assert postable and blocked

    state, tasks, values = run(sync_dag, dry_run=True)
    assert state.endswith("success") and set(tasks) == {"post_time_entries", "post_billing_events"}
    dry = values["post_time_entries"]
    assert dry["dry_run"] is True
    assert dry["planned"] == {"create": len(postable), "dead_letter": len(blocked)}
    # every action is in the log; the XCom keeps the first ACTIONS_SHOWN
    assert len(dry["actions"]) + dry.get("actions_not_shown", 0) == len(entries)
    assert {a["source_id"] for a in dry["actions"]} <= {r["time_entry_id"] for r in entries}
    assert all(a.get("reason") for a in dry["actions"])  # every action says why
    assert ledger(world) == [] and world.sims.ledger() == []  # nothing written, nothing sent

    state, tasks, values = run(sync_dag)
    assert state.endswith("success"), tasks
    assert states(world)[("create", "posted")] == len(postable)
    assert states(world)[("create", "dead_lettered")] == len(blocked)
    live = live_timebills(world)
    assert set(live) == postable and all(len(ids) == 1 for ids in live.values())

    sent = len(world.sims.ledger())
    state, _, values = run(sync_dag)  # the outbox did not move: nothing to do
    assert state.endswith("success") and len(world.sims.ledger()) == sent
    assert values["post_time_entries"]["planned"].get("create", 0) == 0


def test_replay_form_refuses_an_empty_selection_and_replays_a_fixed_dead_letter(world, dags):
    sync_dag, replay_dag = dags
    run(sync_dag)
    dead = [r for r in ledger(world, state="dead_lettered") if r["dead_letter_reason"] == "employee_missing_in_netsuite"]
    assert dead, "the tiny world has approved time of a person missing in NetSuite"
    victim = dead[0]

    state, tasks, _ = run(replay_dag, dry_run=True)  # no posting ids, reason or dates
    assert state.endswith("failed") and tasks == {"replay": "failed"}

    # master data fixed: the person now maps to a NetSuite employee, and dbt rebuilt the outbox row
    employee = world.query("SELECT payload->>'id', payload->>'subsidiary' FROM raw_netsuite.employee LIMIT 1")[0]
    execute(world, f"""UPDATE {PREFIX}outbox.outbox_time_entries
                       SET employee_netsuite_id = %s, subsidiary_id = %s, is_postable = true,
                           blocking_reason = null, blocking_reasons = '', fix_owner = null
                       WHERE time_entry_id = %s AND job_subsidiary_id = %s AND blocking_reasons = 'employee_missing_in_netsuite'""",
            employee[0], employee[1], victim["source_id"], employee[1])
    fixed = [r for r in outbox(world) if r["time_entry_id"] == victim["source_id"]][0]
    if not fixed["is_postable"]:
        pytest.skip("the first blocked entry's job is in another subsidiary than the first employee")

    state, _, values = run(replay_dag, reason="employee_missing_in_netsuite", posting_ids="", dry_run=True)
    assert state.endswith("success")
    decisions = {p["posting_id"]: p["decision"] for p in values["replay"]["by_source"]["time_entries"]["postings"]}
    assert decisions[victim["posting_id"]] == "replayed"
    assert [r for r in ledger(world, posting_id=victim["posting_id"])][0]["state"] == "dead_lettered"

    state, _, values = run(replay_dag, posting_ids=str(victim["posting_id"]), reason="", source="time_entries")
    assert state.endswith("success")
    row = ledger(world, posting_id=victim["posting_id"])[0]
    assert row["state"] == "posted" and row["replays"] == 1 and row["send_key"] != row["idempotency_key"]
    assert [str(x) for x in live_timebills(world)[victim["external_id"]]] == [row["erp_id"]]


def test_before_the_first_transform_there_is_nothing_to_post(world, dags, monkeypatch):
    monkeypatch.setenv("HANDOFF_DBT_SCHEMA_PREFIX", "never_built_")  # no outbox in that schema
    sync_dag, _ = dags
    state, tasks, _ = run(sync_dag)
    assert state.endswith("success") and set(tasks.values()) == {"skipped"}
    assert ledger(world) == [] and world.sims.ledger() == []

"""Reverse sync: records built in the warehouse posted to a target system exactly once.

Generic over targets: NetSuite timeBills and billing events first (`handoff.reverse.netsuite`);
later writes (customers and jobs from closed-won deals, status back to the CRM) add a target
adapter and an outbox source and reuse the ledger, dead letters, replay and the limiter.

    ledger.py   ops.erp_postings rows, states, transitions, audit events
    outbox.py   the dbt outbox models read as the loader
    plan.py     outbox vs ledger -> actions with reasons (also the dry run)
    netsuite.py target adapter: payloads, verbs, refusals -> dead letter reason + fix owner
    engine.py   sync: plan, insert, claim (SKIP LOCKED + lease), post with a bounded pool, record
    replay.py   dead letters back to pending with a fresh send key

Entry points (what the DAG tasks call):

    sync(warehouse, client, source="time_entries" | "billing_events", dry_run=False, run_id=None,
         concurrency=None, allow_mass_removal=False) -> summary dict
         (raises MassRemovalRefused, writing nothing, when it would remove > 20% of the live records)
    replay(warehouse, client, source=..., posting_ids=None, reason=None, since=None, until=None,
           dry_run=False) -> summary dict
"""

from handoff.reverse.engine import MassRemovalRefused, sync
from handoff.reverse.replay import replay

__all__ = ["MassRemovalRefused", "replay", "sync"]

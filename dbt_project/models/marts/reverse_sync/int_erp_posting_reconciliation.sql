{#- Three-way reconciliation of the reverse sync, per source record: what NetSuite should hold (the
    outbox: approved Kantata time entries and completed billing events at their current version),
    what the posting ledger says was posted (ops.erp_postings), and what NetSuite holds (read back
    by the NetSuite extract: raw_netsuite.timebill / billing_event, by externalId). Each record's
    status and since when; marts.rpt_erp_posting_reconciliation (a view) adds what depends on the
    clock (is_exception after the grace period, age_hours). Records removed from the outbox and
    reversed in NetSuite leave the report. Transformer only (intermediate schema).
    Incremental (macros/delta.sql): a delta build recomputes the time entries changed since its last
    build (intermediate.time_entry__changes), those whose ledger rows were written since
    (ops.erp_postings.updated_at) and those NetSuite's read-back changed since (raw_netsuite.timebill,
    deletions included), and every billing event (a few thousand); when the outbox's small inputs
    changed (outbox_time_entries_inputs), everything. -#}
-- depends_on: {{ source('ops', 'extract_runs') }}
-- depends_on: {{ source('raw_netsuite', 'timebill') }}
{{ config(
    materialized='incremental',
    schema='intermediate',
    incremental_strategy='append',
    on_schema_change='fail',
    grants={'select': []},
    pre_hook=["{% if is_incremental() %}{% set st = delta_state(outbox_time_entries_inputs()) %}{% if st.delta %}{{ erp_reconciliation_keys(st.since) }}; delete from {{ this }} where reconciliation_id in (select 'time_entry:' || source_id from {{ erp_reconciliation_keys_relation() }}); delete from {{ this }} where record_type = 'billing_event'{% else %}delete from {{ this }}{% endif %}{% endif %}"],
    post_hook=["{{ ensure_primary_key(this, 'reconciliation_id') }}",
               "{{ delta_commit(outbox_time_entries_inputs()) }}",
               "{{ analyze_if_full_build(this) }}"],
) }}
{%- set st = delta_state(outbox_time_entries_inputs()) %}
{#- a delta build reads the keys its pre_hook kept (macros/delta_inputs.sql) -#}
{%- set keyed = "(select source_id from " ~ erp_reconciliation_keys_relation() ~ ")" if st.delta else none %}

with outbox as (
    select 'time_entry'::text as record_type, o.time_entry_id as source_id, o.external_id, o.source_version,
           o.hours as amount, o.tran_date as record_date, o.is_postable, o.blocking_reason, o.fix_owner,
           t._loaded_at as landed_at
    from {{ ref('outbox_time_entries') }} as o
    left join {{ ref('time_entry') }} as t on t.time_entry_id = o.time_entry_id
    {%- if keyed %}
    where o.time_entry_id in {{ keyed }}
    {%- endif %}
    union all
    select 'billing_event', billing_event_id, external_id, source_version, amount, event_date, is_postable,
           blocking_reason, fix_owner, null::timestamptz
    from {{ ref('outbox_billing_events') }}
),

ledger as (
    {%- set ledger_columns = "source_record_type as record_type, source_id, posting_id, operation, state, source_version, "
                             ~ "erp_id, payload, dead_letter_reason, fix_owner, last_error, attempts, created_at, posted_at, "
                             ~ "dead_lettered_at" %}
    select {{ ledger_columns }}
    from {{ source('ops', 'erp_postings') }}
    where target_system = 'netsuite' and source_system = 'kantata'
    {%- if keyed %}
      and source_record_type = 'billing_event'
    union all
    -- the keys' time entries, through the ledger's source index
    select {{ ledger_columns }}
    from {{ source('ops', 'erp_postings') }}
    where target_system = 'netsuite' and record_type = 'timeBill' and source_system = 'kantata'
      and source_record_type = 'time_entry' and source_id in {{ keyed }}
    {%- endif %}
),

live as (
    -- the version NetSuite should hold, per the ledger
    select distinct on (record_type, source_id) *
    from ledger
    where state = 'posted' and operation <> 'delete'
    order by record_type, source_id, posted_at desc, posting_id desc
),

latest as (
    -- what the sync did last about the record
    select distinct on (record_type, source_id) *
    from ledger
    where state <> 'superseded'
    order by record_type, source_id, posting_id desc
),

erp_records as (
    select 'time_entry'::text as record_type, substr(external_id, length('KANTATA-TE-') + 1) as source_id,
           timebill_id as erp_id, hours as amount, tran_date as record_date
    from {{ ref('stg_netsuite__timebills') }}
    where external_id like 'KANTATA-TE-%'
    {%- if keyed %}
      and substr(external_id, length('KANTATA-TE-') + 1) in {{ keyed }}
    {%- endif %}
    union all
    select 'billing_event', substr(external_id, length('KANTATA-BE-') + 1), netsuite_billing_event_id, amount, event_date
    from {{ ref('stg_netsuite__billing_events') }}
    where external_id like 'KANTATA-BE-%' and not coalesce(is_inactive, false)
),

erp as (
    select record_type, source_id, count(*) as erp_records, min(erp_id) as erp_id,
           string_agg(erp_id, ',' order by erp_id) as erp_ids, min(amount) as amount, min(record_date) as record_date
    from erp_records
    group by record_type, source_id
),

records as (
    select record_type, source_id from outbox
    union
    select record_type, source_id from live
    union
    select record_type, source_id from erp
),

joined as (
    select
        r.record_type,
        r.source_id,
        coalesce(o.external_id, 'KANTATA-' || case r.record_type when 'time_entry' then 'TE' else 'BE' end
                 || '-' || r.source_id) as external_id,
        o.source_version as outbox_version,
        lv.source_version as posted_version,
        lt.state as ledger_state,
        lt.operation as ledger_operation,
        lt.posting_id,
        lt.attempts,
        lt.last_error,
        lv.erp_id as ledger_erp_id,
        e.erp_ids,
        coalesce(e.erp_records, 0) as erp_records,
        o.amount as outbox_amount,
        (lv.payload ->> case r.record_type when 'time_entry' then 'hours' else 'custrecord_hbe_amount' end)::numeric
            as posted_amount,
        e.amount as erp_amount,
        o.record_date as outbox_date,
        (lv.payload ->> case r.record_type when 'time_entry' then 'tranDate' else 'custrecord_hbe_date' end)::date
            as posted_date,
        e.record_date as erp_date,
        o.source_id is not null as in_outbox,
        o.is_postable,
        o.blocking_reason,
        o.fix_owner as outbox_fix_owner,
        lt.dead_letter_reason,
        lt.fix_owner as ledger_fix_owner,
        lt.source_version = o.source_version as latest_is_current,
        coalesce(lt.dead_lettered_at, lt.created_at, o.landed_at) as since,
        lv.posted_at
    from records as r
    left join outbox as o on o.record_type = r.record_type and o.source_id = r.source_id
    left join live as lv on lv.record_type = r.record_type and lv.source_id = r.source_id
    left join latest as lt on lt.record_type = r.record_type and lt.source_id = r.source_id
    left join erp as e on e.record_type = r.record_type and e.source_id = r.source_id
),

classified as (
    select
        j.*,
        case
            when j.erp_records > 1 then 'duplicate_in_erp'
            when j.ledger_state = 'dead_lettered' then 'dead_lettered'
            when j.in_outbox and j.posted_version = j.outbox_version then
                case
                    when j.erp_records = 0 then 'posted_not_in_erp'
                    when j.erp_ids is distinct from j.ledger_erp_id then 'erp_id_mismatch'
                    when j.erp_amount is distinct from j.posted_amount or j.erp_date is distinct from j.posted_date
                        then 'erp_differs'
                    else 'in_sync'
                end
            when j.in_outbox and not j.is_postable and j.posting_id is null then 'blocked'
            when j.in_outbox then 'awaiting_post'
            when j.posted_version is not null then 'awaiting_removal'
            when j.erp_records > 0 then 'in_erp_not_in_outbox'
            else 'removed'
        end as status
    from joined as j
)

select
    record_type || ':' || source_id as reconciliation_id,
    record_type,
    source_id,
    external_id,
    status,
    case status
        when 'dead_lettered' then dead_letter_reason
        when 'blocked' then blocking_reason
        when 'duplicate_in_erp' then 'duplicate_in_erp'
        when 'posted_not_in_erp' then 'record_missing_in_erp'
        when 'erp_id_mismatch' then 'record_replaced_in_erp'
        when 'erp_differs' then 'changed_in_erp'
        when 'awaiting_post' then 'posting_delayed'
        when 'awaiting_removal' then 'removal_delayed'
        when 'in_erp_not_in_outbox' then 'not_approved_but_in_erp'
    end as reason,
    case
        when status = 'dead_lettered' then ledger_fix_owner
        when status = 'blocked' then outbox_fix_owner
        when status in ('awaiting_post', 'awaiting_removal') then 'platform'
        when status <> 'in_sync' then 'finance'
    end as fix_owner,
    since as exception_since,
    posted_at,
    in_outbox,
    coalesce(in_outbox and not is_postable, false) as blocked_in_outbox,
    outbox_version,
    posted_version,
    ledger_state,
    ledger_operation,
    posting_id,
    attempts,
    last_error,
    ledger_erp_id,
    erp_ids,
    erp_records,
    outbox_amount,
    posted_amount,
    erp_amount,
    outbox_date,
    posted_date,
    erp_date
from classified
where status <> 'removed'

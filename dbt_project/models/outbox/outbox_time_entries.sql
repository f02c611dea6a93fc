{{ config(
    materialized='incremental',
    unique_key='time_entry_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{% set st = delta_state(outbox_time_entries_inputs()) %}{% if st.delta %}delete from {{ this }} where time_entry_id = any(array(select c.time_entry_id from {{ delta_changes(st.since) }} as c where c.time_entry_id is not null)){% endif %}",
    ],
    post_hook=[
        "{{ ensure_index(this, ['time_entry_id']) }}",
        "{% if is_incremental() and not delta_state(outbox_time_entries_inputs()).delta %}delete from {{ this }} as o where not exists (select 1 from {{ ref('time_entry') }} as t where t.time_entry_id = o.time_entry_id and t.is_approved and t.date_performed >= (select cutover_date from {{ ref('int_erp_posting_cutover') }})){% endif %}",
        "{{ delta_commit(outbox_time_entries_inputs()) }}",
        "{{ analyze_if_full_build(this) }}",
    ],
) }}
-- What the reverse sync posts to NetSuite as timeBill records: every approved Kantata time entry,
-- one row per entry at its current version, mapped to the NetSuite ids it needs, and, when NetSuite
-- would refuse it, why (blocking_reason: the first failing check, in the order NetSuite checks;
-- blocking_reasons: all of them) and who can fix it (fix_owner).
-- Keys: external_id (per record, sent as externalId) and idempotency_key (per record version:
-- source system + record id + version, sent as X-NetSuite-Idempotency-Key).
-- Version: updated_at in epoch seconds (Kantata bumps it on every change); content_hash covers the
-- fields posted, so an update that changes nothing posted can be told apart.
-- Incremental (macros/delta.sql): a delta build recomputes only the entries canonical.time_entry
-- changed (edited, re-mapped, deleted) since this model's last build: their rows are deleted first
-- (pre-hook), then the approved ones are written again; so a deleted or un-approved entry leaves
-- without an anti-join over the whole table. When the mapping dimensions (resources, projects, items,
-- accounting periods) changed, every row is computed as in a full build and only rows whose content
-- (row_hash) differs from the stored one are written, and a post-hook removes entries that are no
-- longer approved or no longer exist. Either way an incremental build equals a full refresh.
{%- set st = delta_state(outbox_time_entries_inputs()) %}
with entries as (
    -- approved, and dated on or after the cutover (earlier time is history NetSuite already holds)
    select * from {{ ref('time_entry') }}
    where is_approved and date_performed >= (select cutover_date from {{ ref('int_erp_posting_cutover') }})
    {%- if st.delta %}
      and time_entry_id in (select c.time_entry_id from {{ delta_changes(st.since) }} as c)
    {%- endif %}
),

periods as (
    select * from {{ ref('stg_netsuite__accounting_periods') }}
    where not coalesce(is_year, false) and not coalesce(is_quarter, false) and not coalesce(is_adjustment, false)
),

items as (
    select * from {{ ref('stg_netsuite__items') }}
),

period_of_day as (
    -- the period of each distinct work date (a range join per date, not per entry)
    select d.tran_date, p.accounting_period_id, p.period_name, p.is_closed
    from (select distinct date_performed as tran_date from entries) as d
    inner join periods as p on d.tran_date between p.start_date and p.end_date
),

mapped as (
    select
        t.time_entry_id,
        t.updated_at as source_updated_at,
        extract(epoch from t.updated_at)::bigint::text as source_version,
        t.submission_id,
        t.resource_id,
        r.full_name as resource_name,
        r.netsuite_employee_id as employee_netsuite_id,
        r.netsuite_subsidiary_id as employee_subsidiary_id,
        t.project_id,
        p.project_name,
        p.kantata_workspace_id,
        p.netsuite_job_id as job_id,
        p.netsuite_subsidiary_id as job_subsidiary_id,
        p.netsuite_service_item_id as service_item_id,
        coalesce(i.is_inactive, false) as service_item_inactive,
        p.status as project_status,
        p.currency as job_currency,
        ap.accounting_period_id,
        ap.period_name as accounting_period_name,
        ap.is_closed as period_is_closed,
        t.date_performed as tran_date,
        t.hours,
        t.is_billable,
        t.currency,
        t.task_id,
        left('Kantata time entry ' || t.time_entry_id || ': ' || coalesce(p.project_name, ''), 300) as memo
    from entries as t
    left join {{ ref('resource') }} as r on r.resource_id = t.resource_id
    left join {{ ref('project') }} as p on p.project_id = t.project_id
    left join items as i on i.item_id = p.netsuite_service_item_id
    left join period_of_day as ap on ap.tran_date = t.date_performed
),

checked as (
    select
        m.*,
        array_remove(array[
            case when m.resource_id is null then 'resource_unmatched' end,
            case when m.resource_id is not null and m.employee_netsuite_id is null
                 then 'employee_missing_in_netsuite' end,
            case when m.job_id is null then 'no_job' end,
            case when m.job_id is not null and m.project_status = 'closed' then 'project_closed' end,
            case when m.service_item_inactive then 'inactive_service_item' end,
            case when m.currency is distinct from m.job_currency and m.job_id is not null
                 then 'currency_mismatch' end,
            case when m.accounting_period_id is null then 'no_accounting_period' end,
            case when m.period_is_closed then 'period_closed' end,
            case when m.hours is null or m.hours <= 0 or m.hours > 24 then 'invalid_hours' end
        ], null) as reasons
    from mapped as m
),

final as (
    select
        'kantata:time_entry:' || time_entry_id || ':' || source_version as idempotency_key,
        'KANTATA-TE-' || time_entry_id as external_id,
        'kantata'::text as source_system,
        'time_entry'::text as source_record_type,
        time_entry_id,
        source_updated_at,
        source_version,
        md5(concat_ws('|', employee_netsuite_id, job_id, employee_subsidiary_id, service_item_id,
                      tran_date, hours, is_billable, currency, memo)) as content_hash,
        submission_id,
        resource_id,
        resource_name,
        employee_netsuite_id,
        project_id,
        project_name,
        kantata_workspace_id,
        job_id,
        employee_subsidiary_id as subsidiary_id,
        job_subsidiary_id,
        service_item_id,
        accounting_period_id,
        accounting_period_name,
        period_is_closed,
        tran_date,
        hours::numeric(10, 2) as hours,
        is_billable,
        currency,
        job_currency,
        task_id,
        memo,
        reasons[1] as blocking_reason,
        array_to_string(reasons, ',') as blocking_reasons,
        case reasons[1]
            when 'resource_unmatched' then 'master_data'
            when 'employee_missing_in_netsuite' then 'master_data'
            when 'no_job' then 'pmo'
            when 'project_closed' then 'pmo'
            when 'inactive_service_item' then 'master_data'
            when 'currency_mismatch' then 'finance'
            when 'no_accounting_period' then 'finance'
            when 'period_closed' then 'finance'
            when 'invalid_hours' then 'pmo'
        end as fix_owner,
        cardinality(reasons) = 0 as is_postable
    from checked
)

select f.*, md5(f::text) as row_hash
from final as f
{% if is_incremental() and not st.delta and 'row_hash' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
left join {{ this }} as o on o.time_entry_id = f.time_entry_id
where o.time_entry_id is null or o.row_hash is distinct from md5(f::text)
{% endif %}

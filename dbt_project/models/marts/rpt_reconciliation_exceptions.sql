-- One row per reconciliation exception: what does not line up across the systems, in the words and
-- ids of the system that holds the record (entity_id is the id as that system knows it: Salesforce
-- opportunity id, Kantata time entry / workspace id, Workday worker id, HubSpot company id...), who can
-- fix it (fix_owner) and when it became visible (detected_at: the evidence's own timestamp; null when
-- the data carries none). How each type is detected:
--   closed_won_without_project    a won engagement (opportunity/deal) that no project references, won
--                                 more than two days before the as-of date (time to set the project up)
--   time_on_closed_project        a time entry on a closed project, dated after the project's end date
--   employee_missing_in_netsuite  a Workday worker with no NetSuite employee (externalid or email)
--   hubspot_duplicates            a HubSpot company that identity resolution merged into a Salesforce
--                                 account by domain or normalized name (same customer, second record)
--   edited_after_approval         an approved time entry whose updated_at differs from its submission's
--                                 approval moment (the updated_at most of the submission's approved
--                                 entries share: approval stamps them all at once; an edit moves one)
--   currency_mix                  every project (Kantata workspace) with its currency, job and
--                                 subsidiary (severity info): the firm bills in USD, GBP and EUR through
--                                 different subsidiaries; the marts convert at NetSuite's rates
--   identity_unmatched / identity_ambiguous   int_identity_exceptions (other than the above)
--   outbox_blocked                approved time / billing events the outbox cannot post, grouped per
--                                 (record type, reason, project, accounting period); related_ids carries
--                                 the count and the first 100 ids (the outbox has them all)
--   erp_posting                   what the reverse sync could not make true in NetSuite, other than the
--                                 outbox's blocked rows above (rpt_erp_posting_reconciliation exceptions:
--                                 refused by NetSuite, delayed, missing or changed in NetSuite), grouped
--                                 per (record type, status, reason); related_ids: count, first 100 ids,
--                                 ledger posting ids to replay, oldest age
-- Incremental (macros/delta.sql): the exceptions about single time entries are recomputed per entry
-- (time_on_closed_project: the entries changed since the last build) and per submission
-- (edited_after_approval: the submissions of those entries, before and after: their approval moment
-- from int_submission_approval_stamps, then only their entries stamped otherwise), read through the
-- time entry indexes; every other type (small inputs, or the outbox's blocked groups) is recomputed in every
-- build. When the projects changed, everything.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=["{% if is_incremental() %}{% set st = delta_state(rpt_reconciliation_exceptions_inputs()) %}delete from {{ this }} as x{% if st.delta %} where x.exception_type not in ('time_on_closed_project', 'edited_after_approval') or (x.exception_type = 'time_on_closed_project' and x.entity_id in (select c.time_entry_id from {{ delta_changes(st.since) }} as c)) or (x.exception_type = 'edited_after_approval' and x.related_ids->>'submission_id' in (select c.submission_id from {{ delta_changes(st.since) }} as c)){% endif %}{% endif %}"],
    post_hook=["{{ delta_commit(rpt_reconciliation_exceptions_inputs()) }}", "{{ analyze_if_full_build(this) }}"],
) }}
{%- set st = delta_state(rpt_reconciliation_exceptions_inputs()) %}
with projects as (
    select * from {{ ref('project') }}
),

changed_entries as (
    -- time_on_closed_project's candidates: in a delta build, the changed entries (by primary key)
    select time_entry_id, project_id, resource_id, kantata_user_id, date_performed, hours, currency, created_at
    from {{ ref('time_entry') }}
    {%- if st.delta %}
    where time_entry_id = any(array(select c.time_entry_id from {{ delta_changes(st.since) }} as c
                                    where c.time_entry_id is not null))
    {%- endif %}
),

closed_won_without_project as (
    select
        'closed_won_without_project'::text as exception_type,
        case when e.salesforce_opportunity_id is not null then 'salesforce_opportunity' else 'hubspot_deal' end
            as entity_type,
        coalesce(e.salesforce_opportunity_id, e.hubspot_deal_id, e.engagement_id) as entity_id,
        case when e.salesforce_opportunity_id is not null then 'salesforce' else 'hubspot' end as system,
        'Engagement "' || coalesce(e.engagement_name, '?') || '" is closed won'
            || coalesce(' since ' || e.closed_won_at::date, '')
            || ' but no Kantata workspace / NetSuite job references it' as detail,
        'pmo'::text as fix_owner,
        'error'::text as severity,
        null::text as project_id,
        e.customer_id,
        null::text as resource_id,
        null::text as currency,
        jsonb_strip_nulls(jsonb_build_object('engagement_id', e.engagement_id,
            'salesforce_opportunity_id', e.salesforce_opportunity_id, 'hubspot_deal_id', e.hubspot_deal_id,
            'customer_id', e.customer_id, 'amount', e.amount, 'currency', e.currency)) as related_ids,
        coalesce(e.closed_won_at, e.close_date::timestamptz) as detected_at
    from {{ ref('engagement') }} as e
    cross join {{ ref('dim_as_of_date') }} as a
    left join {{ ref('stg_salesforce__opportunities') }} as o on o.opportunity_id = e.salesforce_opportunity_id
    left join {{ ref('stg_hubspot__deals') }} as d on d.deal_id = e.hubspot_deal_id
    where e.is_won
      and not exists (select 1 from projects as p where p.engagement_id = e.engagement_id)
      -- two days' grace: a deal won (last changed) in the last two days may not have its workspace
      -- yet (closed_won_at is capped at the planned close date, which a late win does not move)
      and greatest(e.closed_won_at, o.last_modified_at, d.last_modified_at)::date < a.as_of_date - 2
),

time_on_closed_project as (
    select
        'time_on_closed_project',
        'kantata_time_entry',
        t.time_entry_id,
        'kantata',
        'Time entry of ' || t.hours || ' h dated ' || t.date_performed || ' on project "' || coalesce(p.project_name, '?')
            || '", closed (end date ' || coalesce(p.due_date::text, '?') || ')',
        'pmo',
        'error',
        p.project_id,
        p.customer_id,
        t.resource_id,
        t.currency,
        jsonb_strip_nulls(jsonb_build_object('kantata_workspace_id', p.kantata_workspace_id,
            'netsuite_job_id', p.netsuite_job_id, 'resource_id', t.resource_id,
            'kantata_user_id', t.kantata_user_id, 'date_performed', t.date_performed)),
        t.created_at
    from changed_entries as t
    inner join projects as p on p.project_id = t.project_id
    where p.status = 'closed'
      and t.date_performed > p.due_date
),

employee_missing_in_netsuite as (
    select
        'employee_missing_in_netsuite',
        'workday_worker',
        r.resource_id,
        'workday',
        'Workday worker ' || coalesce(r.full_name, '?') || ' (' || coalesce(r.company_name, '?')
            || ') has no NetSuite employee: their approved time cannot be posted',
        'master_data',
        'error',
        null::text,
        null::text,
        r.resource_id,
        r.currency,
        jsonb_strip_nulls(jsonb_build_object('kantata_user_id', r.kantata_user_id, 'email', r.email,
            'company_id', r.company_id, 'hire_date', r.hire_date)),
        r.hire_date::timestamptz
    from {{ ref('resource') }} as r
    where r.netsuite_employee_id is null
),

hubspot_duplicates as (
    select
        'hubspot_duplicates',
        'hubspot_company',
        x.source_id,
        'hubspot',
        'HubSpot company duplicates Salesforce account ' || coalesce(c.salesforce_account_id, '?')
            || ' "' || coalesce(c.customer_name, '?') || '" (matched by ' || x.match_rule || ')',
        'master_data',
        'warning',
        null::text,
        x.customer_id,
        null::text,
        null::text,
        jsonb_strip_nulls(jsonb_build_object('salesforce_account_id', c.salesforce_account_id,
            'customer_id', x.customer_id, 'match_rule', x.match_rule)),
        null::timestamptz
    from {{ ref('int_customer_crosswalk') }} as x
    inner join {{ ref('customer') }} as c on c.customer_id = x.customer_id
    where x.system = 'hubspot'
      and c.salesforce_account_id is not null
),

approval_moment as (
    -- a submission's approval stamps all its entries' updated_at at once: its most common value (counted
    -- per submission and updated_at in int_submission_approval_stamps); a delta build: the submissions
    -- of the changed entries, before and after
    select distinct on (s.submission_id) s.submission_id, s.updated_at as approved_at
    from {{ ref('int_submission_approval_stamps') }} as s
    {%- if st.delta %}
    where s.submission_id = any(array(select distinct c.submission_id from {{ delta_changes(st.since) }} as c
                                      where c.submission_id is not null))
    {%- endif %}
    order by s.submission_id, s.entries desc, s.updated_at
),

edited_after_approval as (
    select
        'edited_after_approval',
        'kantata_time_entry',
        a.time_entry_id,
        'kantata',
        'Approved time entry (' || a.hours || ' h on ' || a.date_performed || ') changed at '
            || to_char(a.updated_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS')
            || ' UTC; its submission ' || a.submission_id || ' was approved at '
            || to_char(m.approved_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',
        'pmo',
        'warning',
        a.project_id,
        null::text,
        a.resource_id,
        a.currency,
        jsonb_strip_nulls(jsonb_build_object('submission_id', a.submission_id, 'project_id', a.project_id,
            'approved_at', m.approved_at, 'updated_at', a.updated_at)),
        a.updated_at
    from approval_moment as m
    -- only the entries stamped before or after it, each range through the time entry index on
    -- (submission_id, updated_at)
    cross join lateral (
        select * from {{ ref('time_entry') }} as e
        where e.submission_id = m.submission_id and e.updated_at < m.approved_at
        union all
        select * from {{ ref('time_entry') }} as e
        where e.submission_id = m.submission_id and e.updated_at > m.approved_at
    ) as a
    where a.is_approved
),

currency_mix as (
    select
        'currency_mix',
        'kantata_workspace',
        p.kantata_workspace_id,
        'kantata',
        'Project "' || coalesce(p.project_name, '?') || '" is in ' || coalesce(p.currency, '?')
            || coalesce(' (NetSuite job ' || p.netsuite_job_id, ' (no NetSuite job')
            || coalesce(', subsidiary ' || p.netsuite_subsidiary_id, '') || ')'
            || case when p.currency = '{{ var("reporting_currency") }}' then ''
                    else '; reported in {{ var("reporting_currency") }} at NetSuite''s rate in effect' end,
        'finance',
        'info',
        p.project_id,
        p.customer_id,
        null::text,
        p.currency,
        jsonb_strip_nulls(jsonb_build_object('netsuite_job_id', p.netsuite_job_id,
            'netsuite_customer_id', p.netsuite_customer_id, 'netsuite_subsidiary_id', p.netsuite_subsidiary_id,
            'currency', p.currency)),
        p.created_at
    from projects as p
    where p.kantata_workspace_id is not null
),

identity as (
    select
        'identity_' || i.reason,
        i.system || '_' || case i.entity_type when 'person' then 'person' when 'project' then 'project'
                                else i.entity_type end,
        i.source_id,
        i.system,
        initcap(i.entity_type) || ' ' || i.source_id || ' in ' || i.system || ': ' || i.detail
            || ' (looked for in ' || i.missing_system || ')',
        case i.entity_type when 'project' then 'pmo' else 'master_data' end,
        'warning',
        null::text,
        null::text,
        null::text,
        null::text,
        jsonb_strip_nulls(jsonb_build_object('missing_system', i.missing_system, 'candidates', i.candidates)),
        null::timestamptz
    from {{ ref('int_identity_exceptions') }} as i
    -- already reported as employee_missing_in_netsuite
    where not (i.entity_type = 'person' and i.system = 'workday' and i.missing_system = 'netsuite'
               and i.reason = 'unmatched')
),

blocked_time as (
    select
        blocking_reason, fix_owner, project_id, coalesce(accounting_period_name, '-') as period_name,
        count(*) as n, sum(hours) as hours, max(source_updated_at) as latest,
        to_jsonb((array_agg(time_entry_id order by time_entry_id))[1:100]) as ids,
        jsonb_agg(distinct resource_id) filter (where resource_id is not null) as resources,
        min(job_id) as job_id
    from {{ ref('outbox_time_entries') }}
    where blocking_reason is not null
    group by 1, 2, 3, 4
),

blocked_events as (
    select
        blocking_reason, fix_owner, project_id, coalesce(accounting_period_name, '-') as period_name,
        count(*) as n, sum(amount) as amount, min(currency) as currency, max(event_date) as latest,
        to_jsonb((array_agg(billing_event_id order by billing_event_id))[1:100]) as ids, min(job_id) as job_id
    from {{ ref('outbox_billing_events') }}
    where blocking_reason is not null
    group by 1, 2, 3, 4
),

outbox_blocked as (
    select
        'outbox_blocked',
        'outbox_time_entries',
        blocking_reason || ':' || coalesce(project_id, '-') || ':' || period_name,
        'netsuite',
        n || ' approved time entr' || case when n = 1 then 'y' else 'ies' end || ' (' || hours
            || ' h, period ' || period_name || ') cannot be posted: ' || blocking_reason,
        fix_owner,
        'warning',
        project_id,
        null::text,
        null::text,
        null::text,
        jsonb_strip_nulls(jsonb_build_object('blocking_reason', blocking_reason, 'netsuite_job_id', job_id,
            'accounting_period', period_name, 'records', n, 'time_entry_ids', ids, 'resource_ids', resources)),
        latest
    from blocked_time
    union all
    select
        'outbox_blocked',
        'outbox_billing_events',
        blocking_reason || ':' || coalesce(project_id, '-') || ':' || period_name,
        'netsuite',
        n || ' completed billing event' || case when n = 1 then '' else 's' end || ' (' || amount || ' '
            || coalesce(currency, '') || ', period ' || period_name || ') cannot be posted: ' || blocking_reason,
        fix_owner,
        'warning',
        project_id,
        null::text,
        null::text,
        currency,
        jsonb_strip_nulls(jsonb_build_object('blocking_reason', blocking_reason, 'netsuite_job_id', job_id,
            'accounting_period', period_name, 'records', n, 'billing_event_ids', ids)),
        latest::timestamptz
    from blocked_events
),

erp_exceptions as (
    select record_type, status, reason, source_id, posting_id, fix_owner, age_hours, exception_since
    from {{ ref('rpt_erp_posting_reconciliation') }}
    where is_exception and not blocked_in_outbox
),

erp_groups as (
    select record_type, status, reason, count(*) as n, min(fix_owner) as fix_owner, max(age_hours) as oldest,
           min(exception_since) as since
    from erp_exceptions
    group by record_type, status, reason
),

erp_posting as (
    -- the first 100 ids of each group by a top-N sort each, not by sorting every exception
    select
        'erp_posting'::text,
        'erp_postings_' || g.record_type || 's',
        g.status || ':' || coalesce(g.reason, '-'),
        'netsuite'::text,
        g.n || ' ' || replace(g.record_type, '_', ' ') || case when g.n = 1 then '' else 's' end || ': '
            || replace(g.status, '_', ' ') || ' (' || coalesce(g.reason, '-') || '), the oldest for '
            || coalesce(g.oldest::text, '?') || ' h'
            || case when g.status = 'dead_lettered' then '; replay with reverse_sync_replay once fixed' else '' end,
        g.fix_owner,
        case when g.status in ('awaiting_post', 'awaiting_removal') then 'warning' else 'error' end,
        null::text,
        null::text,
        null::text,
        null::text,
        jsonb_build_object('status', g.status, 'reason', g.reason, 'records', g.n,
            'source_ids', to_jsonb(array(
                select e.source_id from erp_exceptions as e
                where e.record_type = g.record_type and e.status = g.status and e.reason is not distinct from g.reason
                order by e.source_id limit 100)),
            'posting_ids', to_jsonb(nullif(array(
                select e.posting_id from erp_exceptions as e
                where e.record_type = g.record_type and e.status = g.status and e.reason is not distinct from g.reason
                  and e.posting_id is not null
                order by e.posting_id limit 100), '{}')),
            'oldest_age_hours', g.oldest),
        g.since
    from erp_groups as g
),

unioned as (
    select * from closed_won_without_project
    union all select * from time_on_closed_project
    union all select * from employee_missing_in_netsuite
    union all select * from hubspot_duplicates
    union all select * from edited_after_approval
    union all select * from currency_mix
    union all select * from identity
    union all select * from outbox_blocked
    union all select * from erp_posting
)

select
    md5(exception_type || '|' || entity_type || '|' || entity_id) as exception_id,
    exception_type,
    entity_type,
    entity_id,
    system,
    detail,
    fix_owner,
    severity,
    project_id,
    customer_id,
    resource_id,
    currency,
    related_ids,
    detected_at
from unioned

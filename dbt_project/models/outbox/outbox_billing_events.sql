-- What the reverse sync posts to NetSuite as customrecord_handoff_billing_event records: every
-- completed Kantata billing milestone (canonical.billing_event), with the NetSuite job, the job's
-- subsidiary, amount, currency, date and accounting period; blocking_reason / blocking_reasons /
-- fix_owner as in outbox_time_entries. Keys: external_id per event, idempotency_key per version
-- (version = hash of what is posted: the event has no change timestamp of its own).
with events as (
    -- dated on or after the cutover (int_erp_posting_cutover): earlier events are history NetSuite holds
    select * from {{ ref('billing_event') }}
    where event_date >= (select cutover_date from {{ ref('int_erp_posting_cutover') }})
),

periods as (
    select * from {{ ref('stg_netsuite__accounting_periods') }}
    where not coalesce(is_year, false) and not coalesce(is_quarter, false) and not coalesce(is_adjustment, false)
),

mapped as (
    select
        e.billing_event_id,
        e.task_id as milestone_id,
        e.event_type,
        e.project_id,
        p.project_name,
        p.kantata_workspace_id,
        p.netsuite_job_id as job_id,
        p.netsuite_subsidiary_id as subsidiary_id,
        p.status as project_status,
        p.currency as job_currency,
        ap.accounting_period_id,
        ap.period_name as accounting_period_name,
        ap.is_closed as period_is_closed,
        e.event_date,
        e.amount,
        e.currency
    from events as e
    left join {{ ref('project') }} as p on p.project_id = e.project_id
    left join periods as ap on e.event_date between ap.start_date and ap.end_date
),

checked as (
    select
        m.*,
        substr(md5(concat_ws('|', m.job_id, m.milestone_id, m.amount, m.currency, m.event_date, m.subsidiary_id)),
               1, 12) as source_version,
        array_remove(array[
            case when m.job_id is null then 'no_job' end,
            case when m.amount is null or m.amount <= 0 then 'invalid_amount' end,
            case when m.currency is distinct from m.job_currency and m.job_id is not null
                 then 'currency_mismatch' end,
            case when m.accounting_period_id is null then 'no_accounting_period' end,
            case when m.period_is_closed then 'period_closed' end
        ], null) as reasons
    from mapped as m
)

select
    'kantata:billing_event:' || billing_event_id || ':' || source_version as idempotency_key,
    'KANTATA-BE-' || billing_event_id as external_id,
    'kantata'::text as source_system,
    'billing_event'::text as source_record_type,
    billing_event_id,
    source_version,
    milestone_id,
    event_type,
    project_id,
    project_name,
    kantata_workspace_id,
    job_id,
    subsidiary_id,
    accounting_period_id,
    accounting_period_name,
    period_is_closed,
    event_date,
    amount::numeric(18, 2) as amount,
    currency,
    job_currency,
    reasons[1] as blocking_reason,
    array_to_string(reasons, ',') as blocking_reasons,
    case reasons[1]
        when 'no_job' then 'pmo'
        when 'invalid_amount' then 'pmo'
        when 'currency_mismatch' then 'finance'
        when 'no_accounting_period' then 'finance'
        when 'period_closed' then 'finance'
    end as fix_owner,
    cardinality(reasons) = 0 as is_postable
from checked

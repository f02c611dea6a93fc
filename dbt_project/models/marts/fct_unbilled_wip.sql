-- Unbilled work in progress per project, aged by work date.
-- Billable items: approved billable time (time_and_materials projects: hours x bill rate) and
-- completed billing milestones (fixed_fee / milestone projects). NetSuite invoices of the project
-- are applied to the items oldest first (FIFO by work date, then id): what the invoiced total does
-- not cover is unbilled. Kantata's own is_invoiced flag also excludes an item.
-- Aging: as-of date (dim_as_of_date) minus the work date, buckets 0-30 / 31-60 / 61-90 / 90+.
-- Grain: project x aging bucket (only buckets holding unbilled value).
with as_of as (
    select as_of_date from {{ ref('dim_as_of_date') }}
),

projects as (
    select * from {{ ref('project') }}
),

items as (
    select
        t.project_id,
        'time_entry'::text as item_type,
        t.time_entry_id as item_id,
        t.date_performed as work_date,
        t.billable_amount as amount,
        t.hours
    from {{ ref('time_entry') }} as t
    inner join projects as p on p.project_id = t.project_id
    where t.is_approved and t.is_billable and not coalesce(t.is_invoiced, false)
      and p.contract_type = 'time_and_materials'
    union all
    select
        b.project_id,
        'billing_event',
        b.billing_event_id,
        b.event_date,
        b.amount,
        0
    from {{ ref('billing_event') }} as b
    inner join projects as p on p.project_id = b.project_id
    where p.contract_type <> 'time_and_materials'
),

invoiced as (
    select project_id, sum(amount) as invoiced_amount
    from {{ ref('invoice') }}
    where project_id is not null
    group by 1
),

running as (
    select
        i.*,
        coalesce(v.invoiced_amount, 0) as invoiced_amount,
        sum(i.amount) over (partition by i.project_id order by i.work_date, i.item_type, i.item_id
                            rows between unbounded preceding and current row) as cumulative_amount
    from items as i
    left join invoiced as v on v.project_id = i.project_id
),

unbilled as (
    select
        r.*,
        greatest(0, least(r.amount, r.cumulative_amount - r.invoiced_amount)) as unbilled_amount
    from running as r
),

aged as (
    select
        u.project_id,
        {{ marts_aging_bucket('a.as_of_date - u.work_date') }} as aging_bucket,
        sum(u.unbilled_amount) filter (where u.item_type = 'time_entry') as unbilled_time_amount,
        sum(u.unbilled_amount) filter (where u.item_type = 'billing_event') as unbilled_milestone_amount,
        sum(u.unbilled_amount) as unbilled_amount,
        sum(u.hours * u.unbilled_amount / nullif(u.amount, 0)) as unbilled_hours,
        count(*) as items,
        min(u.work_date) as oldest_work_date,
        max(u.work_date) as newest_work_date
    from unbilled as u
    cross join as_of as a
    where u.unbilled_amount > 0
    group by 1, 2
)

select
    g.project_id || ':' || g.aging_bucket as project_bucket_id,
    g.project_id,
    p.project_name,
    p.customer_id,
    p.contract_type,
    g.aging_bucket,
    case g.aging_bucket when '0-30' then 1 when '31-60' then 2 when '61-90' then 3 else 4 end as bucket_order,
    p.currency,
    coalesce(g.unbilled_time_amount, 0)::numeric(18, 2) as unbilled_time_amount,
    coalesce(g.unbilled_milestone_amount, 0)::numeric(18, 2) as unbilled_milestone_amount,
    g.unbilled_amount::numeric(18, 2) as unbilled_amount,
    round(coalesce(g.unbilled_hours, 0), 2)::numeric(12, 2) as unbilled_hours,
    g.items::int as items,
    g.oldest_work_date,
    g.newest_work_date,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    {{ to_reporting('g.unbilled_amount', 'fx') }}::numeric(18, 2) as unbilled_amount_usd,
    fx.rate as fx_rate,
    fx.rate_date as fx_rate_date,
    a.as_of_date
from aged as g
inner join projects as p on p.project_id = g.project_id
cross join as_of as a
{{ fx_rate_join('p.currency', 'a.as_of_date', 'fx') }}

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

invoiced as (
    select project_id, sum(amount) as invoiced_amount
    from {{ ref('invoice') }}
    where project_id is not null
    group by 1
),

-- FIFO without a window over every item: per project and day, the candidates' amounts (time of T&M
-- projects from int_project_time_daily, billing events of the others). No item of a day before the
-- first day whose cumulative amount before it plus its positive amounts exceeds the invoiced total can
-- have anything unbilled (its cumulative amount never exceeds that total); items are read one by one
-- from that day on only, through the time entry index on (project_id, date_performed).
days as (
    select d.project_id, d.on_date, sum(d.wip_amount) as amount, sum(d.wip_positive_amount) as positive_amount
    from {{ ref('int_project_time_daily') }} as d
    inner join projects as p on p.project_id = d.project_id
    where p.contract_type = 'time_and_materials'
    group by 1, 2
    union all
    select b.project_id, b.event_date, sum(b.amount), coalesce(sum(b.amount) filter (where b.amount > 0), 0)
    from {{ ref('billing_event') }} as b
    inner join projects as p on p.project_id = b.project_id
    where p.contract_type <> 'time_and_materials'
    group by 1, 2
),

days_running as (
    select
        d.*,
        sum(d.amount) over (partition by d.project_id order by d.on_date
                            rows between unbounded preceding and current row) - d.amount as amount_before
    from days as d
),

first_open_day as (
    select r.project_id, min(r.on_date) as on_date
    from days_running as r
    left join invoiced as v on v.project_id = r.project_id
    where r.amount_before + r.positive_amount > coalesce(v.invoiced_amount, 0)
    group by 1
),

start as (
    select f.project_id, f.on_date as first_day, r.amount_before
    from first_open_day as f
    inner join days_running as r on r.project_id = f.project_id and r.on_date = f.on_date
),

items as (
    select
        t.project_id,
        'time_entry'::text as item_type,
        t.time_entry_id as item_id,
        t.date_performed as work_date,
        t.billable_amount as amount,
        t.hours
    from start as s
    inner join projects as p on p.project_id = s.project_id
    inner join {{ ref('time_entry') }} as t on t.project_id = s.project_id and t.date_performed >= s.first_day
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
    from start as s
    inner join projects as p on p.project_id = s.project_id
    inner join {{ ref('billing_event') }} as b on b.project_id = s.project_id and b.event_date >= s.first_day
    where p.contract_type <> 'time_and_materials'
),

running as (
    select
        i.*,
        coalesce(v.invoiced_amount, 0) as invoiced_amount,
        s.amount_before + sum(i.amount) over (partition by i.project_id order by i.work_date, i.item_type, i.item_id
                                              rows between unbounded preceding and current row) as cumulative_amount
    from items as i
    inner join start as s on s.project_id = i.project_id
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

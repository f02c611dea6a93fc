-- Backlog per project (and per won engagement that has no project yet):
-- contracted (project contract value, else the engagement's amount) minus billed (NetSuite
-- invoices of the project, voided/deleted ones excluded upstream), in the project's currency and
-- in USD at the rate in effect on the as-of date (dim_as_of_date).
with as_of as (
    select as_of_date from {{ ref('dim_as_of_date') }}
),

billed as (
    select project_id, sum(amount) as billed_amount, count(*) as invoices, max(invoice_date) as last_invoice_date
    from {{ ref('invoice') }}
    where project_id is not null
    group by 1
),

engagements as (
    select * from {{ ref('engagement') }}
),

projects as (
    select
        p.project_id as backlog_id,
        p.project_id,
        p.engagement_id,
        p.customer_id,
        p.project_name as name,
        p.status,
        p.contract_type,
        p.currency,
        coalesce(p.contract_value, e.amount) as contracted_amount
    from {{ ref('project') }} as p
    left join engagements as e on e.engagement_id = p.engagement_id
),

orphan_engagements as (
    select
        'engagement:' || e.engagement_id as backlog_id,
        null::text as project_id,
        e.engagement_id,
        e.customer_id,
        e.engagement_name as name,
        'no_project'::text as status,
        null::text as contract_type,
        e.currency,
        e.amount as contracted_amount
    from engagements as e
    where e.is_won
      and not exists (select 1 from {{ ref('project') }} as p where p.engagement_id = e.engagement_id)
),

rows_ as (
    select * from projects
    union all
    select * from orphan_engagements
)

select
    r.backlog_id,
    r.project_id,
    r.engagement_id,
    r.customer_id,
    r.name,
    r.status,
    r.contract_type,
    r.currency,
    coalesce(r.contracted_amount, 0)::numeric(18, 2) as contracted_amount,
    coalesce(b.billed_amount, 0)::numeric(18, 2) as billed_amount,
    (coalesce(r.contracted_amount, 0) - coalesce(b.billed_amount, 0))::numeric(18, 2) as backlog_amount,
    coalesce(b.invoices, 0)::int as invoices,
    b.last_invoice_date,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    {{ to_reporting('coalesce(r.contracted_amount, 0)', 'fx') }}::numeric(18, 2) as contracted_amount_usd,
    {{ to_reporting('coalesce(b.billed_amount, 0)', 'fx') }}::numeric(18, 2) as billed_amount_usd,
    {{ to_reporting('coalesce(r.contracted_amount, 0) - coalesce(b.billed_amount, 0)', 'fx') }}::numeric(18, 2)
        as backlog_amount_usd,
    fx.rate as fx_rate,
    fx.rate_date as fx_rate_date,
    a.as_of_date
from rows_ as r
cross join as_of as a
left join billed as b on b.project_id = r.project_id
{{ fx_rate_join('r.currency', 'a.as_of_date', 'fx') }}

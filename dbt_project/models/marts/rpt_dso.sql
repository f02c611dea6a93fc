-- Days sales outstanding, per customer and overall (scope = 'overall', customer_id null).
-- Formula (trailing-window DSO): DSO = open receivables / amount billed in the trailing 90 days x 90,
--   open receivables = amount remaining of every open invoice on the as-of date,
--   billed           = invoices dated in (as_of_date - 90, as_of_date],
-- both in USD at the rate in effect on the as-of date (so currencies add up and the ratio is not
-- moved by exchange rates). Null when nothing was billed in the window.
with as_of as (
    select as_of_date from {{ ref('dim_as_of_date') }}
),

invoices as (
    select
        i.invoice_id,
        i.customer_id,
        i.currency,
        i.invoice_date,
        i.amount,
        coalesce(i.amount_remaining,
                 case when lower(coalesce(i.status, '')) in ('a', 'open') then i.amount else 0 end) as open_amount
    from {{ ref('invoice') }} as i
),

converted as (
    select
        i.customer_id,
        {{ to_reporting('i.open_amount', 'fx') }} as open_usd,
        case when i.invoice_date > a.as_of_date - 90 and i.invoice_date <= a.as_of_date
             then {{ to_reporting('i.amount', 'fx') }} else 0 end as billed_usd
    from invoices as i
    cross join as_of as a
    {{ fx_rate_join('i.currency', 'a.as_of_date', 'fx') }}
),

per_customer as (
    select
        'customer'::text as scope,
        customer_id,
        sum(open_usd) as open_receivables_usd,
        sum(billed_usd) as billed_trailing_90d_usd
    from converted
    where customer_id is not null
    group by customer_id
),

overall as (
    select
        'overall'::text as scope,
        null::text as customer_id,
        coalesce(sum(open_usd), 0) as open_receivables_usd,
        coalesce(sum(billed_usd), 0) as billed_trailing_90d_usd
    from converted
),

both_ as (
    select * from per_customer
    union all
    select * from overall
)

select
    coalesce(b.customer_id, '(overall)') as dso_id,
    b.scope,
    b.customer_id,
    c.customer_name,
    b.open_receivables_usd::numeric(18, 2) as open_receivables_usd,
    b.billed_trailing_90d_usd::numeric(18, 2) as billed_trailing_90d_usd,
    90 as window_days,
    round(b.open_receivables_usd / nullif(b.billed_trailing_90d_usd, 0) * 90, 1)::numeric(10, 1) as dso_days,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    a.as_of_date
from both_ as b
cross join as_of as a
left join {{ ref('customer') }} as c on c.customer_id = b.customer_id

-- Open invoices (amount remaining > 0) with their age on the as-of date (dim_as_of_date):
-- days_outstanding = as_of_date - invoice_date, bucket 0-30 / 31-60 / 61-90 / 90+;
-- days_past_due = as_of_date - due_date (negative: not due yet).
-- Amounts in the invoice currency and in USD at the rate in effect on the as-of date.
with as_of as (
    select as_of_date from {{ ref('dim_as_of_date') }}
),

invoices as (
    select
        i.*,
        coalesce(i.amount_remaining,
                 case when lower(coalesce(i.status, '')) in ('a', 'open') then i.amount else 0 end) as open_amount
    from {{ ref('invoice') }} as i
)

select
    i.invoice_id,
    i.invoice_number,
    i.customer_id,
    c.customer_name,
    i.project_id,
    i.netsuite_subsidiary_id,
    i.invoice_date,
    i.due_date,
    i.status,
    i.currency,
    i.amount::numeric(18, 2) as amount,
    i.open_amount::numeric(18, 2) as amount_remaining,
    (a.as_of_date - i.invoice_date) as days_outstanding,
    (a.as_of_date - i.due_date) as days_past_due,
    {{ marts_aging_bucket('a.as_of_date - i.invoice_date') }} as aging_bucket,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    {{ to_reporting('i.open_amount', 'fx') }}::numeric(18, 2) as amount_remaining_usd,
    fx.rate as fx_rate,
    fx.rate_date as fx_rate_date,
    a.as_of_date
from invoices as i
cross join as_of as a
left join {{ ref('customer') }} as c on c.customer_id = i.customer_id
{{ fx_rate_join('i.currency', 'a.as_of_date', 'fx') }}
where i.open_amount > 0

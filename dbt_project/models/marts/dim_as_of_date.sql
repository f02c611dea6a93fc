-- The one date every mart measures ages, trailing windows and "current" exchange rates from.
-- The latest activity seen in the data (time entry change, invoice, payment), never after today:
-- in production that is today; on a simulated world it is the world's clock, not the wall clock.
-- var('as_of_date') (YYYY-MM-DD) pins it (backfills, reproducible reports).
with activity as (
    select max(updated_at)::date as on_date from {{ ref('time_entry') }}
    union all
    select max(invoice_date) from {{ ref('invoice') }}
    union all
    select max(payment_date) from {{ ref('payment') }}
)

select
    {% if var('as_of_date', none) -%}
    date '{{ var("as_of_date") }}' as as_of_date,
    'var as_of_date'::text as basis
    {%- else -%}
    least(coalesce(max(on_date), current_date), current_date) as as_of_date,
    'latest activity (time entry change, invoice, payment), at most today'::text as basis
    {%- endif %}
from activity

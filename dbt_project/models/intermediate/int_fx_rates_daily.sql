{{ config(materialized='table', post_hook=["create index if not exists {{ this.name }}_key on {{ this }} (currency, rate_date)"]) }}
{#- The rate in effect on each day, per currency, to the reporting currency (var reporting_currency,
    USD): 1 currency = rate_to_reporting reporting units on rate_date. Days from two years before the
    first rate to two years after today (or the last rate). Join on (currency, rate_date) with
    macro fx_rate_join, convert with to_reporting (macros/fx.sql). Via the base currency when the
    reporting currency is not NetSuite's base: rate(c→base) / rate(reporting→base).
    rate_effective_date: the effective date of the rate used (the later of the two when crossed). -#}
with ranges as (
    select * from {{ ref('int_fx_rate_ranges') }}
),

bounds as (
    -- vars fx_first_day / fx_last_day narrow the spine (unit tests)
    select coalesce({{ "'" ~ var('fx_first_day') ~ "'::date" if var('fx_first_day', none) else 'null::date' }},
                    min(effective_date) - 730) as first_day,
           coalesce({{ "'" ~ var('fx_last_day') ~ "'::date" if var('fx_last_day', none) else 'null::date' }},
                    greatest(max(effective_date), current_date) + 730) as last_day
    from ranges
),

days as (
    select d::date as rate_date
    from bounds, generate_series(bounds.first_day, bounds.last_day, interval '1 day') as d
),

to_base as (
    select r.from_currency as currency, r.to_currency as base_currency, d.rate_date,
           r.exchange_rate, r.effective_date
    from days as d
    join ranges as r on d.rate_date >= r.valid_from and (d.rate_date < r.valid_to or r.valid_to is null)
),

reporting as (
    select * from to_base where currency = '{{ var("reporting_currency") }}'
)

select
    c.currency,
    c.rate_date,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    round(c.exchange_rate / r.exchange_rate, 6)::numeric(18, 6) as rate_to_reporting,
    case when c.effective_date is null then r.effective_date
         when r.effective_date is null then c.effective_date
         else greatest(c.effective_date, r.effective_date) end as rate_effective_date
from to_base as c
join reporting as r on r.rate_date = c.rate_date and r.base_currency = c.base_currency

{#- Currency conversion for the marts.

    marts_fx_join(currency, on_date, alias) adds a LEFT JOIN LATERAL exposing
      <alias>.rate       1 <currency> = rate <reporting currency> (var reporting_currency, USD)
      <alias>.rate_date  the effective date of the NetSuite rate used
    The rate in effect on `on_date` is the canonical.fx_rate row with the latest effective_date
    on or before it; a date before the first known rate takes the earliest rate (and says so
    through rate_date > on_date). The reporting currency converts at 1 on the date itself.
    Convert after aggregating per (thing, date, currency): the lateral runs once per row. -#}
{% macro marts_fx_join(currency, on_date, alias) -%}
left join lateral (
    select
        case when {{ currency }} = '{{ var("reporting_currency") }}' then 1::numeric(18, 6)
             else fx_pick.exchange_rate::numeric(18, 6) end as rate,
        case when {{ currency }} = '{{ var("reporting_currency") }}' then ({{ on_date }})::date
             else fx_pick.effective_date end as rate_date
    from (select 1) as fx_one
    left join lateral (
        select f.exchange_rate, f.effective_date
        from {{ ref('fx_rate') }} as f
        where f.from_currency = {{ currency }}
          and f.to_currency = '{{ var("reporting_currency") }}'
        order by (f.effective_date <= ({{ on_date }})::date) desc,
                 abs(({{ on_date }})::date - f.effective_date)
        limit 1
    ) as fx_pick on true
) as {{ alias }} on true
{%- endmacro %}

{#- amount × rate, rounded to cents (null when no rate is known) -#}
{% macro marts_to_reporting(amount, alias) -%}
round(({{ amount }}) * {{ alias }}.rate, 2)
{%- endmacro %}

{#- Currency conversion to the reporting currency (var reporting_currency, USD) at the rate in
    effect on a date: intermediate.int_fx_rates_daily, one row per currency and day (NetSuite
    currencyrate, effective-dated; days before the first rate use the earliest one).

    fx_rate_join(currency, on_date, alias) adds a LEFT JOIN (hash-joinable) exposing
      <alias>.rate       1 <currency> = rate <reporting currency>, numeric(18,6)
      <alias>.rate_date  the effective date of the NetSuite rate used (the day itself for the
                         reporting currency)
    to_reporting(amount, alias): amount × rate, rounded to cents (null when no rate is known).

        select t.amount, {{ to_reporting('t.amount', 'fx') }} as amount_usd, fx.rate, fx.rate_date
        from {{ ref('time_entry') }} as t
        {{ fx_rate_join('t.currency', 't.date_performed', 'fx') }}
-#}
{% macro fx_rate_join(currency, on_date, alias='fx') -%}
left join (
    select
        currency as fx_currency,
        rate_date as fx_day,
        rate_to_reporting::numeric(18, 6) as rate,
        coalesce(rate_effective_date, rate_date) as rate_date
    from {{ ref('int_fx_rates_daily') }}
) as {{ alias }}
    on {{ alias }}.fx_currency = {{ currency }}
   and {{ alias }}.fx_day = ({{ on_date }})::date
{%- endmacro %}

{% macro to_reporting(amount, alias='fx') -%}
round(({{ amount }}) * {{ alias }}.rate, 2)
{%- endmacro %}

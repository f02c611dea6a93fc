{#- Currency conversion for the marts.

    marts_fx_join(currency, on_date, alias) adds a LEFT JOIN (hash-joinable) exposing
      <alias>.rate       1 <currency> = rate <reporting currency> (var reporting_currency, USD), numeric(18,6)
      <alias>.rate_date  the effective date of the NetSuite rate used (the day itself for the reporting
                         currency)
    from intermediate.int_fx_rates_daily (H2): the rate in effect on each day per currency, days before
    the first NetSuite rate at the earliest rate. -#}
{% macro marts_fx_join(currency, on_date, alias) -%}
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

{#- amount × rate, rounded to cents (null when no rate is known) -#}
{% macro marts_to_reporting(amount, alias) -%}
round(({{ amount }}) * {{ alias }}.rate, 2)
{%- endmacro %}

{#- Currency conversion to the reporting currency (var reporting_currency, USD), with the rate in
    effect on a date (int_fx_rates_daily: NetSuite currencyrate, effective-dated; the earliest
    rate covers earlier days). Usage:

        select t.amount, t.currency, t.date_performed,
               {{ to_reporting('t.amount', 'fx') }} as amount_usd,
               fx.rate_to_reporting as fx_rate, fx.rate_effective_date as fx_rate_date
        from {{ ref('time_entry') }} as t
        {{ fx_rate_join('t.currency', 't.date_performed', 'fx') }}
-#}
{% macro fx_rate_join(currency_col, date_col, alias='fx') -%}
    left join {{ ref('int_fx_rates_daily') }} as {{ alias }}
        on {{ alias }}.currency = {{ currency_col }} and {{ alias }}.rate_date = ({{ date_col }})::date
{%- endmacro %}

{% macro to_reporting(amount_col, alias='fx') -%}
    round(({{ amount_col }}) * {{ alias }}.rate_to_reporting, 2)
{%- endmacro %}

{#- The same as a scalar subquery, for one-off uses (slower per row than the join). -#}
{% macro reporting_amount(amount_col, currency_col, date_col) -%}
    round(({{ amount_col }}) * (select r.rate_to_reporting from {{ ref('int_fx_rates_daily') }} as r
                                where r.currency = {{ currency_col }} and r.rate_date = ({{ date_col }})::date), 2)
{%- endmacro %}

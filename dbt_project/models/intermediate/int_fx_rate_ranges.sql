{#- NetSuite exchange rates as ranges: 1 from_currency = exchange_rate to_currency (the base
    currency) from effective_date until valid_to (exclusive; null = still in effect), plus the base
    currency to itself at 1. The earliest rate of a pair also covers the days before it
    (valid_from = '-infinity'); effective_date keeps the date the rate was set for. -#}
with rates as (
    select
        currency_rate_id,
        transaction_currency as from_currency,
        base_currency as to_currency,
        effective_date,
        exchange_rate,
        lead(effective_date) over (partition by transaction_currency, base_currency
                                   order by effective_date, currency_rate_id) as valid_to,
        row_number() over (partition by transaction_currency, base_currency
                           order by effective_date, currency_rate_id) as n
    from {{ ref('stg_netsuite__currency_rates') }}
    where transaction_currency is not null and base_currency is not null and exchange_rate is not null
)

select
    currency_rate_id,
    from_currency,
    to_currency,
    effective_date,
    case when n = 1 then '-infinity'::date else effective_date end as valid_from,
    valid_to,
    exchange_rate
from rates
where valid_to is null or valid_to > effective_date   -- two rows for one date: the later id wins
union all
select
    null, currency_code, currency_code, null::date, '-infinity'::date, null::date, 1::numeric
from {{ ref('stg_netsuite__currencies') }}
where is_base_currency

{#- NetSuite exchange rates: 1 from_currency = exchange_rate to_currency (the base currency, USD),
    from effective_date until valid_to (exclusive; null = still in effect). For "the rate in effect
    on a date" in the reporting currency use int_fx_rates_daily / macros fx_rate_join, to_reporting. -#}
select
    currency_rate_id::text as fx_rate_id,
    from_currency::text as from_currency,
    to_currency::text as to_currency,
    effective_date::date as effective_date,
    valid_to::date as valid_to,
    exchange_rate::numeric(18, 6) as exchange_rate,
    'netsuite'::text as system_of_record,
    jsonb_build_object('netsuite', currency_rate_id) as source_ids
from {{ ref('int_fx_rate_ranges') }}
where currency_rate_id is not null

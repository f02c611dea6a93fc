{#- 1 unit of transaction_currency = exchange_rate units of base_currency, from effective_date. -#}
select
    r.source_id as currency_rate_id,
    r.payload ->> 'basecurrency' as base_currency_id,
    base.currency_code as base_currency,
    r.payload ->> 'transactioncurrency' as transaction_currency_id,
    tran.currency_code as transaction_currency,
    {{ to_numeric("r.payload ->> 'exchangerate'") }} as exchange_rate,
    {{ ns_date("r.payload ->> 'effectivedate'") }} as effective_date,
    {{ ns_timestamp("r.payload ->> 'lastmodified'") }} as last_modified_at,
    r.loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'currencyrate') }} as r
left join {{ ref('stg_netsuite__currencies') }} as base on base.currency_id = r.payload ->> 'basecurrency'
left join {{ ref('stg_netsuite__currencies') }} as tran on tran.currency_id = r.payload ->> 'transactioncurrency'
where not r.is_deleted

select
    source_id as currency_id,
    payload ->> 'symbol' as currency_code,
    payload ->> 'name' as currency_name,
    payload ->> 'displaysymbol' as display_symbol,
    {{ ns_bool("payload ->> 'isbasecurrency'") }} as is_base_currency,
    {{ ns_bool("payload ->> 'isinactive'") }} as is_inactive,
    {{ to_numeric("payload ->> 'currencyprecision'") }}::integer as currency_precision,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'currency') }} as src
where not is_deleted

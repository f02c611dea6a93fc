{#- deal_id: the associated deal (`associations.deals`, v3 list shape), null when not extracted. -#}
select
    source_id as line_item_id,
    coalesce(
        payload -> 'associations' -> 'deals' -> 'results' -> 0 ->> 'id',
        payload -> 'properties' ->> 'hs_deal_id'
    ) as deal_id,
    payload -> 'properties' ->> 'name' as line_name,
    payload -> 'properties' ->> 'hs_sku' as product_code,
    {{ to_numeric("payload -> 'properties' ->> 'quantity'") }} as quantity,
    {{ to_numeric("payload -> 'properties' ->> 'price'") }} as unit_price,
    {{ to_numeric("payload -> 'properties' ->> 'amount'") }} as amount,
    payload -> 'properties' ->> 'hs_line_item_currency_code' as currency,
    (payload -> 'properties' ->> 'createdate')::timestamptz as created_at,
    source_modified_at as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_hubspot', 'line_items') }}
where not is_deleted

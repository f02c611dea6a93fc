select
    source_id as opportunity_line_item_id,
    payload ->> 'OpportunityId' as opportunity_id,
    payload ->> 'Name' as line_name,
    payload ->> 'ProductCode' as product_code,
    (payload ->> 'Quantity')::numeric as quantity,
    (payload ->> 'UnitPrice')::numeric as unit_price,
    (payload ->> 'TotalPrice')::numeric as total_price,
    (payload ->> 'ServiceDate')::date as service_date,
    payload ->> 'CurrencyIsoCode' as currency,
    (payload ->> 'CreatedDate')::timestamptz as created_at,
    (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
    source_modified_at as system_modstamp,
    loaded_at as _loaded_at
from {{ source('raw_salesforce', 'OpportunityLineItem') }}
where not is_deleted

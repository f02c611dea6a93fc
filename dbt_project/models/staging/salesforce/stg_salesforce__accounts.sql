select
    source_id as account_id,
    payload ->> 'Name' as account_name,
    payload ->> 'Type' as account_type,
    payload ->> 'Industry' as industry,
    payload ->> 'BillingCountry' as billing_country,
    payload ->> 'Website' as website,
    {{ normalize_domain("payload ->> 'Website'") }} as domain,
    payload ->> 'CurrencyIsoCode' as currency,
    payload ->> 'OwnerId' as owner_id,
    (payload ->> 'CreatedDate')::timestamptz as created_at,
    (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
    source_modified_at as system_modstamp,
    loaded_at as _loaded_at
from {{ source('raw_salesforce', 'Account') }}
where not is_deleted

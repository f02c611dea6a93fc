select
    source_id as contact_id,
    payload ->> 'AccountId' as account_id,
    payload ->> 'FirstName' as first_name,
    payload ->> 'LastName' as last_name,
    payload ->> 'Name' as full_name,
    payload ->> 'Email' as email,
    payload ->> 'Title' as title,
    payload ->> 'CurrencyIsoCode' as currency,
    payload ->> 'OwnerId' as owner_id,
    (payload ->> 'CreatedDate')::timestamptz as created_at,
    (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
    source_modified_at as system_modstamp,
    loaded_at as _loaded_at
from {{ source('raw_salesforce', 'Contact') }}
where not is_deleted

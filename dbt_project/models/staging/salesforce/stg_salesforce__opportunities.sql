select
    source_id as opportunity_id,
    payload ->> 'AccountId' as account_id,
    payload ->> 'Name' as opportunity_name,
    payload ->> 'StageName' as stage,
    (payload ->> 'Probability')::numeric as probability,
    (payload ->> 'IsClosed')::boolean as is_closed,
    (payload ->> 'IsWon')::boolean as is_won,
    (payload ->> 'CloseDate')::date as close_date,
    (payload ->> 'Amount')::numeric as amount,
    payload ->> 'CurrencyIsoCode' as currency,
    payload ->> 'Type' as opportunity_type,
    payload ->> 'OwnerId' as owner_id,
    (payload ->> 'CreatedDate')::timestamptz as created_at,
    (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
    source_modified_at as system_modstamp,
    loaded_at as _loaded_at
from {{ source('raw_salesforce', 'Opportunity') }}
where not is_deleted

{#- Payment → invoice links (SuiteQL NextTransactionLineLink): nextdoc (payment) applied to
    previousdoc (invoice) for foreignamount in the invoice's currency. -#}
select
    source_id as payment_application_id,
    payload ->> 'nextdoc' as payment_id,
    payload ->> 'previousdoc' as invoice_id,
    payload ->> 'previoustype' as previous_type,
    payload ->> 'nexttype' as next_type,
    payload ->> 'linktype' as link_type,
    {{ to_numeric("payload ->> 'foreignamount'") }} as amount,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'payment_application') }} as src
where not is_deleted

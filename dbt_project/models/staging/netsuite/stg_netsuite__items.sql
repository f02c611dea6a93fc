select
    source_id as item_id,
    payload ->> 'itemid' as item_code,
    payload ->> 'displayname' as item_name,
    payload ->> 'itemtype' as item_type,
    payload ->> 'subsidiary' as subsidiary_id,
    {{ ns_bool("payload ->> 'includechildren'") }} as includes_child_subsidiaries,
    {{ ns_bool("payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'item') }} as src
where not is_deleted

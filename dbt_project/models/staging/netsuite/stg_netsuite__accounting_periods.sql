select
    source_id as accounting_period_id,
    payload ->> 'periodname' as period_name,
    {{ ns_date("payload ->> 'startdate'") }} as start_date,
    {{ ns_date("payload ->> 'enddate'") }} as end_date,
    {{ ns_bool("payload ->> 'closed'") }} as is_closed,
    {{ ns_bool("payload ->> 'isyear'") }} as is_year,
    {{ ns_bool("payload ->> 'isquarter'") }} as is_quarter,
    {{ ns_bool("payload ->> 'isadjust'") }} as is_adjustment,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_netsuite', 'accountingperiod') }}
where not is_deleted

{#- Tombstones of hard-deleted time entries (the extract's reconciliation marks them is_deleted in
    raw). canonical.time_entry deletes these ids when they were loaded after its watermark. -#}
select
    source_id as time_entry_id,
    source_modified_at as deleted_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'time_entries') }}
where is_deleted

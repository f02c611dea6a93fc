{#- Kantata time entries, incremental (delete+insert on time_entry_id).
    Each incremental run reads:
      1. raw rows loaded since the watermark (max _loaded_at here) minus
         var('incremental_lookback_minutes') (a load transaction that started before the previous
         build can commit after it, with an older loaded_at), skipping the versions already here
         (same id and _loaded_at): new entries and edits;
      2. the entries of Kantata users whose resource_id (int_person_crosswalk) changed since the
         previous build, found by comparing the crosswalk with the map the previous build used
         (kept by the post_hook in intermediate.time_entry__person_map), so no stale resource_id survives;
    and, before that (pre_hook), deletes the entries hard-deleted in Kantata (tombstones in
    stg_kantata__time_entry_deletes loaded since the same watermark).
    Every other column is derived from the entry's own raw row, so an incremental build equals a full
    refresh row for row. hours are rounded to 2 decimals; minutes keeps the exact duration and
    billable_amount = minutes / 60 × bill_rate (0 when not billable). -#}
-- depends_on: {{ ref('stg_kantata__time_entry_deletes') }}
{%- set person_map = time_entry_person_map_relation(this) %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='time_entry_id',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['_loaded_at']}],
    pre_hook=["{% if is_incremental() %}delete from {{ this }} where time_entry_id in (select d.time_entry_id from {{ ref('stg_kantata__time_entry_deletes') }} as d where d._loaded_at >= (select coalesce(max(t._loaded_at), '-infinity'::timestamptz) from {{ this }} as t) - interval '{{ var('incremental_lookback_minutes') }} minutes'){% endif %}"],
    post_hook=["{{ time_entry_person_map(this) }}", "{{ ensure_primary_key(this, 'time_entry_id') }}"]
) }}

with person as (
    select source_id as kantata_user_id, resource_id
    from {{ ref('int_person_crosswalk') }}
    where system = 'kantata'
),

{% if is_incremental() %}
watermark as (
    select coalesce(max(_loaded_at), '-infinity'::timestamptz)
           - interval '{{ var("incremental_lookback_minutes") }} minutes' as since
    from {{ this }}
),

remapped_users as (
    {%- if execute and adapter.get_relation(database=person_map.database, schema=person_map.schema,
                                            identifier=person_map.identifier) is not none %}
    select coalesce(p.kantata_user_id, m.kantata_user_id) as kantata_user_id
    from person as p
    full outer join {{ person_map }} as m on m.kantata_user_id = p.kantata_user_id
    where p.resource_id is distinct from m.resource_id
    {%- else %}
    select distinct t.kantata_user_id
    from {{ this }} as t
    left join person as p on p.kantata_user_id = t.kantata_user_id
    where t.resource_id is distinct from p.resource_id
    {%- endif %}
),

entries as (
    select e.*
    from {{ ref('stg_kantata__time_entries') }} as e
    where e._loaded_at >= (select since from watermark)
      and not exists (select 1 from {{ this }} as t
                      where t.time_entry_id = e.time_entry_id and t._loaded_at = e._loaded_at)
    union all
    select e.*
    from {{ ref('stg_kantata__time_entries') }} as e
    join remapped_users as r on r.kantata_user_id = e.user_id
    where not (e._loaded_at >= (select since from watermark)
               and not exists (select 1 from {{ this }} as t
                               where t.time_entry_id = e.time_entry_id and t._loaded_at = e._loaded_at))
)
{% else %}
entries as (
    select * from {{ ref('stg_kantata__time_entries') }}
)
{% endif %}

select
    e.time_entry_id::text as time_entry_id,
    ('KANTATA-' || e.workspace_id)::text as project_id,
    e.story_id::text as task_id,
    p.resource_id::text as resource_id,
    e.user_id::text as kantata_user_id,
    e.date_performed::date as date_performed,
    e.hours::numeric(10, 2) as hours,
    e.minutes::integer as minutes,
    e.is_billable as is_billable,
    e.is_approved as is_approved,
    e.bill_rate::numeric(18, 4) as bill_rate,
    (case when e.is_billable then round(e.minutes::numeric / 60 * e.bill_rate, 2) else 0 end)::numeric(18, 2)
        as billable_amount,
    e.currency::text as currency,
    e.is_invoiced as is_invoiced,
    e.created_at::timestamptz as created_at,
    e.updated_at::timestamptz as updated_at,
    e.submission_id::text as submission_id,
    'kantata'::text as system_of_record,
    jsonb_build_object('kantata', e.time_entry_id) as source_ids,
    e._loaded_at::timestamptz as _loaded_at
from entries as e
left join person as p on p.kantata_user_id = e.user_id

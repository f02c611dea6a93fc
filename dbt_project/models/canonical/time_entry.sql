{#- Kantata time entries, incremental (delete+insert on time_entry_id).
    Each incremental run reads:
      1. entries whose raw row was loaded since the watermark (max _loaded_at here) minus
         var('incremental_lookback_minutes'): new entries and edits;
      2. entries of Kantata users whose resource_id (int_person_crosswalk) changed since they were
         built (a worker matched later, a reference fixed), so no stale resource_id survives;
    and, before that (pre_hook), deletes the entries hard-deleted in Kantata (tombstones in
    stg_kantata__time_entry_deletes loaded since the same watermark).
    Every other column is derived from the entry's own raw row, so an incremental build equals a full
    refresh row for row. hours are rounded to 2 decimals; minutes keeps the exact duration and
    billable_amount = minutes / 60 × bill_rate (0 when not billable). -#}
-- depends_on: {{ ref('stg_kantata__time_entry_deletes') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='time_entry_id',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['_loaded_at']}, {'columns': ['time_entry_id'], 'unique': true}],
    pre_hook=["{% if is_incremental() %}delete from {{ this }} where time_entry_id in (select d.time_entry_id from {{ ref('stg_kantata__time_entry_deletes') }} as d where d._loaded_at >= (select coalesce(max(t._loaded_at), '-infinity'::timestamptz) from {{ this }} as t) - interval '{{ var('incremental_lookback_minutes') }} minutes'){% endif %}"]
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
    select distinct t.kantata_user_id
    from {{ this }} as t
    left join person as p on p.kantata_user_id = t.kantata_user_id
    where t.resource_id is distinct from p.resource_id
),

entries as (
    select e.*
    from {{ ref('stg_kantata__time_entries') }} as e
    where e._loaded_at >= (select since from watermark)
    union all
    select e.*
    from {{ ref('stg_kantata__time_entries') }} as e
    join remapped_users as r on r.kantata_user_id = e.user_id
    where e._loaded_at < (select since from watermark)
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

{#- Kantata time entries, incremental (delete+insert on time_entry_id).
    Each incremental run first finds (pre_hook, macro time_entry_record_changes_before, once, into a
    temporary table) the entries it must touch:
      1. raw rows loaded since the previous build read raw, or since the start of an extract run
         still writing then (macro time_entry_since: a load transaction that started before the
         previous build can commit after it, with an older loaded_at), skipping the versions already
         here (same id and _loaded_at): new entries and edits;
      2. tombstones (stg_kantata__time_entry_deletes) loaded since the same watermark;
      3. the entries of Kantata users whose resource_id (int_person_crosswalk) changed since the
         previous build, found by comparing the crosswalk with the map the previous build used
         (kept by the post_hook in intermediate.time_entry__person_map), so no stale resource_id survives;
    then deletes the tombstoned ones and rebuilds the others from their current raw row.
    It records the keys it touched (before and after) in intermediate.time_entry__changes, which the
    models downstream read to recompute only what changed (macros/delta.sql); the indexes below serve
    their lookups by project, resource, date, submission and the as-of date.
    Every other column is derived from the entry's own raw row, so an incremental build equals a full
    refresh row for row. hours are rounded to 2 decimals; minutes keeps the exact duration and
    billable_amount = minutes / 60 × bill_rate (0 when not billable). -#}
-- depends_on: {{ ref('stg_kantata__time_entry_deletes') }}
-- depends_on: {{ source('ops', 'extract_runs') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='time_entry_id',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['_loaded_at']}],
    pre_hook=["{{ time_entry_record_changes_before(this) }}",
              "{% if is_incremental() %}delete from {{ this }} where time_entry_id in (select d.time_entry_id from {{ ref('stg_kantata__time_entry_deletes') }} as d join {{ time_entry_touched_relation() }} as k on k.time_entry_id = d.time_entry_id){% endif %}"],
    post_hook=["{{ time_entry_person_map(this) }}", "{{ ensure_primary_key(this, 'time_entry_id') }}",
               "{{ time_entry_record_changes_after(this) }}",
               "{{ ensure_index(this, ['project_id', 'date_performed']) }}",
               "{{ ensure_index(this, ['resource_id', 'date_performed']) }}",
               "{{ ensure_index(this, ['date_performed']) }}",
               "{{ ensure_index(this, ['updated_at']) }}",
               "{{ ensure_index(this, ['submission_id', 'updated_at']) }}",
               "{{ delta_watermark_upsert() }}",
               "{{ analyze_if_full_build(this) }}"]
) }}

with person as (
    select source_id as kantata_user_id, resource_id
    from {{ ref('int_person_crosswalk') }}
    where system = 'kantata'
),

{% if is_incremental() %}
entries as (
    -- the current version of every entry the pre_hook found touched (new, edited, re-mapped; a deleted
    -- one has none), read by key
    select e.*
    from {{ ref('stg_kantata__time_entries') }} as e
    where e.time_entry_id in (select k.time_entry_id from {{ time_entry_touched_relation() }} as k)
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

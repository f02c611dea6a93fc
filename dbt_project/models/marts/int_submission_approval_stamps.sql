{#- How many approved time entries of each timesheet submission carry each updated_at: approval stamps
    all of a submission's entries at once, so its most common value is the approval moment
    (rpt_reconciliation_exceptions, edited_after_approval). A few rows per submission instead of every
    entry: the exceptions mart finds a changed submission's moment here and reads only its entries that
    differ from it. Transformer only (intermediate schema).
    Incremental, additively (macros/delta.sql): a delta build counts the time entries changed since its
    last build as they were after minus as they were before (intermediate.time_entry__changes) and adds
    that to the counts; a (submission, updated_at) left with no entry is deleted.     Its first pre_hook makes sure the change table has the measures it reads (an upgraded warehouse
    where time_entry has not rebuilt yet).
-#}
{{ config(
    materialized='incremental',
    schema='intermediate',
    incremental_strategy='additive',
    additive_keys=['submission_id'],
    additive_nullable_keys=['updated_at'],
    additive_sums=[],
    additive_count='entries',
    on_schema_change='fail',
    grants={'select': []},
    pre_hook=additive_pre_hooks('int_submission_approval_stamps_inputs'),
    post_hook=additive_post_hooks('int_submission_approval_stamps_inputs', ['submission_id']),
) }}
{%- set st = delta_state(int_submission_approval_stamps_inputs()) %}
select
    t.submission_id::text as submission_id,
    t.updated_at::timestamptz as updated_at,
    sum(t.sign)::integer as entries
from {{ delta_rows(st, ref('time_entry')) }} as t
where t.is_approved and t.submission_id is not null
group by 1, 2

{{ config(materialized='view') }}
-- Health of every feed (source, stream) from the extract bookkeeping (ops.*), live (a view: lag is
-- measured when queried). Status thresholds are those of the sources' freshness (the DAG schedules):
--   every-minute feeds (salesforce, hubspot, kantata): warn after 10 min without a success, error after 30
--   netsuite (*/5): warn 30 min, error 90;  workday (daily 02:00): warn 26 h, error 50 h.
-- status: 'error' when the lag passes the error threshold or the feed never succeeded;
--         'warn' when it passes the warn threshold, or the last attempt failed, or there were
--         rejects or schema changes in the last 24 h; else 'ok'.
with runs as (
    select * from {{ source('ops', 'extract_runs') }}
),

feeds as (
    select distinct source, stream from runs
),

last_attempt as (
    select distinct on (source, stream)
        source, stream, batch_id, started_at, finished_at, outcome, error, records, changed
    from runs
    order by source, stream, started_at desc, batch_id desc
),

last_success as (
    select distinct on (source, stream)
        source, stream, finished_at, records, changed, deletes, duration_s
    from runs
    where outcome = 'success'
    order by source, stream, finished_at desc, batch_id desc
),

day as (
    select
        source, stream,
        count(*) as runs_24h,
        count(*) filter (where outcome not in ('success', 'running')) as failures_24h,
        coalesce(sum(records), 0) as rows_loaded_24h,
        coalesce(sum(changed), 0) as rows_changed_24h,
        max(coalesce(finished_at, started_at)) filter (where changed > 0) as last_change_at
    from runs
    where started_at > now() - interval '24 hours'
    group by 1, 2
),

rejects as (
    select
        source, stream,
        count(*) as rejects_total,
        count(*) filter (where rejected_at > now() - interval '24 hours') as rejects_24h,
        max(rejected_at) as last_reject_at
    from {{ source('ops', 'rejected_records') }}
    group by 1, 2
),

schema_changes as (
    select
        source, stream,
        count(*) as schema_changes_total,
        count(*) filter (where detected_at > now() - interval '24 hours') as schema_changes_24h,
        max(detected_at) as last_schema_change_at,
        string_agg(change || ' ' || field, ', ' order by detected_at desc) as schema_change_fields
    from {{ source('ops', 'schema_changes') }}
    group by 1, 2
),

thresholds as (
    select * from (values
        ('salesforce', 10, 30), ('hubspot', 10, 30), ('kantata', 10, 30),
        ('netsuite', 30, 90), ('workday', 26 * 60, 50 * 60)
    ) as t (source, warn_after_minutes, error_after_minutes)
),

joined as (
    select
        f.source,
        f.stream,
        la.started_at as last_attempt_at,
        la.outcome as last_outcome,
        la.error as last_error,
        coalesce(la.finished_at, la.started_at) as last_load_at,
        ls.finished_at as last_success_at,
        round((extract(epoch from now() - ls.finished_at) / 60.0)::numeric, 1) as lag_minutes,
        ls.records as rows_loaded_last_run,
        ls.changed as rows_changed_last_run,
        ls.deletes as deletes_last_run,
        round(ls.duration_s::numeric, 2) as duration_s_last_run,
        coalesce(d.runs_24h, 0) as runs_24h,
        coalesce(d.rows_loaded_24h, 0) as rows_loaded_24h,
        coalesce(d.rows_changed_24h, 0) as rows_changed_24h,
        coalesce(d.failures_24h, 0) as failures_24h,
        d.last_change_at,
        coalesce(r.rejects_24h, 0) as rejects_24h,
        coalesce(r.rejects_total, 0) as rejects_total,
        r.last_reject_at,
        coalesce(s.schema_changes_24h, 0) as schema_changes_24h,
        coalesce(s.schema_changes_total, 0) as schema_changes_total,
        s.last_schema_change_at,
        s.schema_change_fields,
        coalesce(t.warn_after_minutes, 10) as warn_after_minutes,
        coalesce(t.error_after_minutes, 30) as error_after_minutes
    from feeds as f
    left join last_attempt as la on la.source = f.source and la.stream = f.stream
    left join last_success as ls on ls.source = f.source and ls.stream = f.stream
    left join day as d on d.source = f.source and d.stream = f.stream
    left join rejects as r on r.source = f.source and r.stream = f.stream
    left join schema_changes as s on s.source = f.source and s.stream = f.stream
    left join thresholds as t on t.source = f.source
)

select
    source || '.' || stream as feed,
    *,
    case
        when last_success_at is null or lag_minutes > error_after_minutes then 'error'
        when lag_minutes > warn_after_minutes
             or last_outcome not in ('success', 'running')
             or rejects_24h > 0 or schema_changes_24h > 0 then 'warn'
        else 'ok'
    end as status,
    case
        when last_success_at is null then 'never loaded successfully'
        when lag_minutes > error_after_minutes then 'no successful load for ' || lag_minutes || ' min (error after '
             || error_after_minutes || ')'
        when lag_minutes > warn_after_minutes then 'no successful load for ' || lag_minutes || ' min (warn after '
             || warn_after_minutes || ')'
        when last_outcome not in ('success', 'running') then 'last attempt ' || last_outcome
             || coalesce(': ' || left(last_error, 200), '')
        when rejects_24h > 0 then rejects_24h || ' rejected record(s) in 24 h'
        when schema_changes_24h > 0 then 'schema changed in 24 h: ' || schema_change_fields
        else 'ok'
    end as status_reason
from joined

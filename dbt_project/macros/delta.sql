{#- Delta propagation: what a cycle where 1% of the time entries changed costs downstream of
    canonical.time_entry.

    1. canonical.time_entry's incremental build records the keys it touched in
       intermediate.time_entry__changes (transformer only, like time_entry__person_map): for every
       entry it re-read (new or edited version, re-mapped person) or deleted, one row with the entry's
       keys and measures before the build (project_id, resource_id, date_performed, submission_id,
       is_approved, is_billable, is_invoiced, hours, minutes, billable_amount, currency, updated_at; sign -1;
       null for a new entry) and one with them after (sign +1; none for a deleted entry), so sums can be
       maintained additively (int_project_time_daily, int_submission_approval_stamps), stamped `changed_at` = the build transaction's
       now(). A full refresh records one `is_full` marker row instead. Rows older than
       var('delta_retention_days') are pruned.
    2. A model downstream (fct_utilization_weekly, int_project_time_daily, outbox_time_entries,
       rpt_reconciliation_exceptions, ...) keeps its own watermark in intermediate.delta__watermarks
       (model, built_at = its last build's now(), inputs_hash). Its incremental build is a *delta*
       build (recompute only the keys of the changes recorded after built_at) when
         - its watermark exists and is younger than the retention,
         - no full-refresh marker was recorded after it,
         - the hash of its other, small inputs (dimensions, rates, bounds) is what it was;
       otherwise it recomputes everything (a *full* build inside the incremental materialization).
       So an incremental build equals a full refresh row for row, whatever changed.
    3. Data tests over the large tables check, in an incremental `dbt build`, only the rows this
       invocation rewrote (see get_where_subquery and delta_test_scope); `dbt test`, full refreshes
       and builds that also rebuild a test's other parents check everything.
    dbt runs its models one transaction each and one invocation at a time (the transform DAG runs one
    cycle at a time): a change recorded after a downstream model's transaction started has a later
    changed_at than that model's new watermark. -#}

{% macro delta_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database,
                                  schema=generate_schema_name('intermediate', model),
                                  identifier=identifier)) }}
{%- endmacro %}

{% macro time_entry_changes_relation() -%}
    {{ return(delta_relation('time_entry__changes')) }}
{%- endmacro %}

{% macro delta_watermarks_relation() -%}
    {{ return(delta_relation('delta__watermarks')) }}
{%- endmacro %}

{% macro delta_ddl() -%}
    {%- set ch = time_entry_changes_relation() -%}
    {%- set wm = delta_watermarks_relation() -%}
    create schema if not exists {{ ch.schema }};
    create table if not exists {{ ch }} (
        changed_at timestamptz not null,
        is_full boolean not null default false,
        time_entry_id text,
        project_id text,
        resource_id text,
        date_performed date,
        submission_id text,
        is_approved boolean,
        is_billable boolean,
        hours numeric(10, 2),
        sign smallint  -- -1: the entry before the build, +1: after it
    );
    -- the measures of the additive models (added after the table was first made); altered only when
    -- missing, so that the models reading the table never wait on the ALTER's lock
    do $$
    begin
        if not exists (select 1 from information_schema.columns
                       where table_schema = '{{ ch.schema }}' and table_name = '{{ ch.identifier }}'
                         and column_name = 'updated_at') then
            alter table {{ ch }} add column if not exists minutes integer,
                add column if not exists billable_amount numeric(18, 2), add column if not exists currency text,
                add column if not exists is_invoiced boolean, add column if not exists updated_at timestamptz;
        end if;
    end
    $$;
    create index if not exists time_entry__changes_changed_at on {{ ch }} (changed_at);
    create table if not exists {{ wm }} (model text primary key, built_at timestamptz not null, inputs_hash text,
                                         last_delta boolean);
{%- endmacro %}

{#- pre_hook of canonical.time_entry (first): the entries this build re-reads or deletes, kept once in a
    temporary table (time_entry_touched_relation, dropped at commit) that the tombstone delete and the
    model read, and their keys before this build as change rows. Read once: a raw version committed
    between two reads of raw would be built (or deleted) with no change row, and the additive models
    downstream would never see it. A version committed after this read is read by the next build
    (time_entry_since). -#}
{% macro time_entry_touched_relation() -%}time_entry__touched{%- endmacro %}

{% macro time_entry_record_changes_before(relation) -%}
    {%- if is_incremental() -%}
    {%- set ch = time_entry_changes_relation() -%}
    {%- set since = time_entry_since(relation) -%}
    {%- set remapped = time_entry_remapped_users(relation) -%}
    {{ delta_ddl() }}
    create temporary table {{ time_entry_touched_relation() }} on commit drop as
        -- new entries and new versions
        select e.time_entry_id
        from {{ ref('stg_kantata__time_entries') }} as e
        where e._loaded_at >= {{ since }}
          and not exists (select 1 from {{ relation }} as t
                          where t.time_entry_id = e.time_entry_id and t._loaded_at = e._loaded_at)
        union
        -- hard deletes (tombstones)
        select d.time_entry_id
        from {{ ref('stg_kantata__time_entry_deletes') }} as d
        where d._loaded_at >= {{ since }}
        {%- if remapped is none %}
        union
        -- no map of the previous build yet: entries whose stored resource_id differs from the crosswalk's
        select t.time_entry_id
        from {{ relation }} as t
        left join {{ ref('int_person_crosswalk') }} as p on p.system = 'kantata' and p.source_id = t.kantata_user_id
        where t.resource_id is distinct from p.resource_id
        {%- elif remapped %}
        union
        -- entries of the Kantata users whose resource_id changed since the previous build
        select t.time_entry_id from {{ relation }} as t where t.kantata_user_id in ({{ sql_text_list(remapped) }})
        union
        select e.time_entry_id from {{ ref('stg_kantata__time_entries') }} as e where e.user_id in ({{ sql_text_list(remapped) }})
        {%- endif %};
    alter table {{ time_entry_touched_relation() }} add primary key (time_entry_id);
    analyze {{ time_entry_touched_relation() }};
    insert into {{ ch }} (changed_at, time_entry_id, project_id, resource_id, date_performed, submission_id, is_approved,
                          is_billable, is_invoiced, hours, minutes, billable_amount, currency, updated_at, sign)
    select now(), k.time_entry_id, t.project_id, t.resource_id, t.date_performed, t.submission_id, t.is_approved,
           t.is_billable, t.is_invoiced, t.hours, t.minutes, t.billable_amount, t.currency, t.updated_at, -1
    from {{ time_entry_touched_relation() }} as k
    left join {{ relation }} as t on t.time_entry_id = k.time_entry_id
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- post_hook of canonical.time_entry: the keys after this build of the entries recorded before it
    (deleted ones have none); a full refresh records a marker. Prunes old rows. -#}
{% macro time_entry_record_changes_after(relation) -%}
    {%- set ch = time_entry_changes_relation() -%}
    {{ delta_ddl() }}
    {%- if is_incremental() %}
    insert into {{ ch }} (changed_at, time_entry_id, project_id, resource_id, date_performed, submission_id, is_approved,
                          is_billable, is_invoiced, hours, minutes, billable_amount, currency, updated_at, sign)
    select now(), t.time_entry_id, t.project_id, t.resource_id, t.date_performed, t.submission_id, t.is_approved,
           t.is_billable, t.is_invoiced, t.hours, t.minutes, t.billable_amount, t.currency, t.updated_at, 1
    from {{ relation }} as t
    where t.time_entry_id in (select c.time_entry_id from {{ ch }} as c where c.changed_at = now() and not c.is_full);
    {%- else %}
    insert into {{ ch }} (changed_at, is_full) values (now(), true);
    {%- endif %}
    delete from {{ ch }} where changed_at < now() - interval '{{ var("delta_retention_days", 30) }} days';
    analyze {{ ch }};
{%- endmacro %}

{#- Whether this build of the current model may be a delta build, and since when.
    inputs_hash_sql: one SQL query returning one text (the hash of the model's small inputs) or none.
    Returns {'delta': bool, 'since': 'timestamp literal' or none, 'why': text}. Only meaningful when
    `execute`; at parse time it answers full. -#}
{% macro delta_state(inputs_hash_sql=none) -%}
    {%- set out = {'delta': false, 'since': none, 'why': 'not incremental'} -%}
    {%- if execute and is_incremental() -%}
        {%- set wm = delta_watermarks_relation() -%}
        {%- set ch = time_entry_changes_relation() -%}
        {%- set have_wm = adapter.get_relation(database=wm.database, schema=wm.schema, identifier=wm.identifier) is not none -%}
        {%- set have_ch = adapter.get_relation(database=ch.database, schema=ch.schema, identifier=ch.identifier) is not none -%}
        {%- if not (have_wm and have_ch) -%}
            {%- do out.update({'why': 'no bookkeeping yet'}) -%}
        {%- else -%}
            {%- set res = run_query(
                "select w.built_at::text, w.inputs_hash, "
                ~ "w.built_at < now() - interval '" ~ (var('delta_retention_days', 30) - 1) ~ " days' as too_old, "
                ~ "exists (select 1 from " ~ ch ~ " as c where c.is_full and c.changed_at > w.built_at) as full_marker, "
                ~ ("(" ~ inputs_hash_sql ~ ")" if inputs_hash_sql else "null::text") ~ " as current_hash "
                ~ "from (select 1) as one left join " ~ wm ~ " as w on w.model = '" ~ this.schema ~ "." ~ this.identifier ~ "'") -%}
            {%- set row = res.rows[0] -%}
            {%- if row[0] is none -%}
                {%- do out.update({'why': 'no watermark'}) -%}
            {%- elif row[2] -%}
                {%- do out.update({'why': 'watermark older than the retention'}) -%}
            {%- elif row[3] -%}
                {%- do out.update({'why': 'time_entry was fully refreshed'}) -%}
            {%- elif row[1] is not none and row[4] is not none and row[1] != row[4] -%}
                {%- do out.update({'why': 'small inputs changed'}) -%}
            {%- elif (row[1] is none) != (row[4] is none) -%}
                {%- do out.update({'why': 'small inputs changed'}) -%}
            {%- else -%}
                {%- do out.update({'delta': true, 'since': row[0], 'why': 'delta'}) -%}
            {%- endif -%}
        {%- endif -%}
        {%- do log(this.identifier ~ ": " ~ ('delta build since ' ~ out['since'] if out['delta'] else 'full build (' ~ out['why'] ~ ')'), info=false) -%}
    {%- endif -%}
    {{ return(out) }}
{%- endmacro %}

{#- post_hook of a delta model: its new watermark (this transaction's now()) and inputs hash. -#}
{% macro delta_commit(inputs_hash_sql=none) -%}
    {{ delta_watermark_upsert(inputs_hash_sql, delta_state(inputs_hash_sql).delta) }}
{%- endmacro %}

{#- This model's watermark row: this transaction's now(), its small inputs' hash, whether it was a delta
    build (delta_commit; canonical.time_entry's post_hook keeps only the time, macro time_entry_since). -#}
{% macro delta_watermark_upsert(inputs_hash_sql=none, last_delta=false) -%}
    {%- set wm = delta_watermarks_relation() -%}
    create schema if not exists {{ wm.schema }};
    create table if not exists {{ wm }} (model text primary key, built_at timestamptz not null, inputs_hash text,
                                         last_delta boolean);
    insert into {{ wm }} (model, built_at, inputs_hash, last_delta)
    select '{{ this.schema }}.{{ this.identifier }}', now(), {{ "(" ~ inputs_hash_sql ~ ")" if inputs_hash_sql else "null::text" }},
           {{ 'true' if last_delta else 'false' }}
    on conflict (model) do update
        set built_at = excluded.built_at, inputs_hash = excluded.inputs_hash, last_delta = excluded.last_delta;
{%- endmacro %}

{#- The changes recorded after `since` (a delta build): a subquery of change rows. -#}
{% macro delta_changes(since) -%}
    (select * from {{ time_entry_changes_relation() }}
     where changed_at > '{{ since }}'::timestamptz and not is_full)
{%- endmacro %}

{#- md5 over whole rows of small relations (order independent): a model's "small inputs" hash. -#}
{% macro delta_hash_of(queries) -%}
    select md5(string_agg(h, ',' order by h)) from (
    {%- for q in queries %}
        select '{{ loop.index }}:' || md5(x::text) as h from ({{ q }}) as x
        {{ "union all" if not loop.last }}
    {%- endfor %}
    ) as hashes
{%- endmacro %}

{#- post_hook: create an index on `columns` unless the table has one on exactly them (converges
    tables built before the index; unnamed so a full refresh's backup table never holds the name). -#}
{% macro ensure_index(relation, columns, where=none) -%}
    do $$
    begin
        if not exists (
            select 1 from pg_index as i
            where i.indrelid = '{{ relation }}'::regclass
              and (select array_agg(a.attname::text order by k.n)
                   from unnest(i.indkey) with ordinality as k(attnum, n)
                   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum)
                  = array[{% for c in columns %}'{{ c }}'{{ "," if not loop.last }}{% endfor %}]::text[]
              and (i.indpred is not null) = {{ 'true' if where else 'false' }}
        ) then
            create index on {{ relation }} ({{ columns | join(', ') }}){{ ' where ' ~ where if where }};
        end if;
    end
    $$;
{%- endmacro %}

{#- post_hook: statistics for a table a full build just (re)created (dbt never analyzes; autovacuum
    comes minutes later), so that the next cycle's delta queries are planned on real row counts. -#}
{% macro analyze_if_full_build(relation) -%}
    {%- if not is_incremental() %}analyze {{ relation }}{% else %}select 1{% endif -%}
{%- endmacro %}

{#- Incremental strategy 'additive' (int_project_time_daily): the model's rows are signed sums per
    group (a delta build: the changes' after minus before); each is added to its group's row, a new
    group is inserted, and a group left with no entries is deleted. config: additive_keys (the group's
    columns that are never null: matched with =, through an index), additive_nullable_keys (the others),
    additive_sums (the columns added), additive_count (the entries column).
    A sum stays null only while both sides are null (a group without a cost rate has no cost). -#}
{% macro get_incremental_additive_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set strict = config.get('additive_keys') -%}
    {%- set nullable = config.get('additive_nullable_keys', []) -%}
    {%- set keys = strict + nullable -%}
    {%- set sums = config.get('additive_sums') -%}
    {%- set n = config.get('additive_count') -%}
    {%- set match -%}
        {%- for k in strict %}t.{{ k }} = s.{{ k }}{{ " and " if not loop.last or nullable }}{% endfor -%}
        {%- for k in nullable %}t.{{ k }} is not distinct from s.{{ k }}{{ " and " if not loop.last }}{% endfor -%}
    {%- endset -%}
    analyze {{ source }};  -- a few thousand rows: planned as what they are, not as an unknown temp table
    update {{ target }} as t set
    {%- for c in sums + [n] %}
        {{ c }} = case when t.{{ c }} is null and s.{{ c }} is null then null
                       else coalesce(t.{{ c }}, 0) + coalesce(s.{{ c }}, 0) end{{ "," if not loop.last }}
    {%- endfor %}
    from {{ source }} as s
    where {{ match }};
    insert into {{ target }} ({{ (keys + sums + [n]) | join(', ') }})
    select {{ (keys + sums + [n]) | join(', ') }}
    from {{ source }} as s
    where not exists (select 1 from {{ target }} as t where {{ match }});
    delete from {{ target }} as t using {{ source }} as s where {{ match }} and t.{{ n }} = 0
{%- endmacro %}

{#- The rest of an 'additive' model, shared by its users:
      additive_pre_hooks(inputs)   the change table has the measures the model reads (an upgraded warehouse
                                   where time_entry has not rebuilt yet); a full build inside the incremental
                                   materialization empties the table first
      additive_post_hooks(inputs, index_columns)   the group index, the watermark, statistics
      delta_rows(st, relation)     what the model aggregates: the changes since its watermark (sign -1 before,
                                   +1 after) in a delta build, else every row of `relation` with sign 1
    `inputs` names the model's small-inputs hash macro (macros/delta_inputs.sql). -#}
{% macro additive_pre_hooks(inputs) -%}
    {{ return(["{{ delta_ddl() }}",
               "{% if is_incremental() %}{% set st = delta_state(" ~ inputs ~ "()) %}{% if not st.delta %}delete from {{ this }}{% endif %}{% endif %}"]) }}
{%- endmacro %}

{% macro additive_post_hooks(inputs, index_columns) -%}
    {{ return(["{{ ensure_index(this, " ~ index_columns ~ ") }}",
               "{{ delta_commit(" ~ inputs ~ "()) }}",
               "{{ analyze_if_full_build(this) }}"]) }}
{%- endmacro %}

{% macro delta_rows(st, relation) -%}
    {%- if st.delta -%}
        {{ delta_changes(st.since) }}
    {%- else -%}
        (select r.*, 1 as sign from {{ relation }} as r)
    {%- endif -%}
{%- endmacro %}

{#- Bookkeeping of canonical.time_entry: which resource_id each Kantata user had in its last build
    (`time_entry__person_map`), so the next incremental build re-reads exactly the entries of users
    whose mapping changed, without scanning the whole table. It lives in the intermediate schema
    (transformer only; canonical holds only the analysts' entities). -#}
{% macro time_entry_person_map_relation(relation) -%}
    {{ return(api.Relation.create(database=relation.database,
                                  schema=generate_schema_name('intermediate', model),
                                  identifier=relation.identifier ~ '__person_map')) }}
{%- endmacro %}

{#- post_hook of canonical.time_entry (runs in the model's transaction). -#}
{% macro time_entry_person_map(relation) -%}
    {%- set map = time_entry_person_map_relation(relation) -%}
    create schema if not exists {{ map.schema }};
    create table if not exists {{ map }} (kantata_user_id text primary key, resource_id text);
    truncate {{ map }};
    insert into {{ map }} (kantata_user_id, resource_id)
    select source_id, resource_id from {{ ref('int_person_crosswalk') }} where system = 'kantata'
    on conflict (kantata_user_id) do nothing;
{%- endmacro %}

{#- post_hook of canonical.time_entry: a table created before its key was a constraint gets it
    (full refreshes create it from the contract; this converges older tables without one). -#}
{% macro ensure_primary_key(relation, column) -%}
    do $$
    begin
        if not exists (select 1 from pg_index where indrelid = '{{ relation }}'::regclass and indisprimary) then
            alter table {{ relation }} add primary key ({{ column }});
        end if;
    end
    $$;
{%- endmacro %}

{#- The oldest timestamp a row of (system, stream) written after a build that read at `built_at` (SQL)
    can carry: a raw row's loaded_at is its load transaction's start, so a row committed after that
    build is stamped no earlier than
      - built_at minus var('late_commit_seconds') for a short write outside an extract run, or
      - the start of an extract run of the stream still running at built_at or started after it
        (ops.extract_runs: a run writes only inside its own attempt).
    SQL text. A model calling it depends on source('ops', 'extract_runs') (a `-- depends_on:` line). -#}
{% macro written_since(built_at, system, stream) -%}
    least(({{ built_at }}) - interval '{{ var('late_commit_seconds') }} seconds',
          (select min(r.started_at) from {{ source('ops', 'extract_runs') }} as r
           where r.source = '{{ system }}' and r.stream = '{{ stream }}'
             and (r.finished_at is null or r.finished_at >= ({{ built_at }}))))
{%- endmacro %}

{#- canonical.time_entry's incremental watermark as a literal (so the planner reads raw through its
    loaded_at index): written_since its previous build (its now(), kept in
    intermediate.delta__watermarks) for the Kantata time entries. Versions already built are skipped by
    the model (same id and _loaded_at), so reading a few too many costs little; reading from the newest
    built row minus a fixed margin instead re-read a whole first load (2M rows) in every cycle for that
    long. Without a watermark yet: the newest built _loaded_at minus var('incremental_lookback_minutes'). -#}
{% macro time_entry_since(relation) -%}
    {%- if execute -%}
        {%- set wm = delta_watermarks_relation() -%}
        {%- set have_wm = adapter.get_relation(database=wm.database, schema=wm.schema, identifier=wm.identifier) is not none -%}
        {%- set res = run_query(
            "select coalesce("
            ~ ("(select " ~ written_since("w.built_at", "kantata", "time_entries") ~ " from " ~ wm
               ~ " as w where w.model = '" ~ relation.schema ~ "." ~ relation.identifier ~ "'), " if have_wm else "")
            ~ "(select max(_loaded_at) - interval '" ~ var('incremental_lookback_minutes') ~ " minutes' from "
            ~ relation ~ "), '-infinity'::timestamptz)") -%}
        {{ return("'" ~ res.rows[0][0] ~ "'::timestamptz") }}
    {%- endif -%}
    {{ return("'-infinity'::timestamptz") }}
{%- endmacro %}


{#- The Kantata users whose resource_id (int_person_crosswalk) differs from the map of the previous
    build (a list, usually empty), or none when there is no map yet. -#}
{% macro time_entry_remapped_users(relation) -%}
    {%- set person_map = time_entry_person_map_relation(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if adapter.get_relation(database=person_map.database, schema=person_map.schema,
                                identifier=person_map.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set res = run_query("select coalesce(p.source_id, m.kantata_user_id) from (select source_id, resource_id from "
                            ~ ref('int_person_crosswalk') ~ " where system = 'kantata') as p full outer join "
                            ~ person_map ~ " as m on m.kantata_user_id = p.source_id"
                            ~ " where p.resource_id is distinct from m.resource_id") -%}
    {%- set out = [] -%}
    {%- for row in res.rows if row[0] is not none %}{% do out.append(row[0]) %}{% endfor -%}
    {{ return(out) }}
{%- endmacro %}

{% macro sql_text_list(values) -%}
    {%- for v in values %}'{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}

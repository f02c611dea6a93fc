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

{#- post_hook of canonical.time_entry: remember which resource_id each Kantata user had in this
    build (<time_entry>__person_map), so the next incremental build re-reads exactly the entries of
    users whose mapping changed, without scanning the whole table. Runs in the model's transaction. -#}
{% macro time_entry_person_map(relation) -%}
    {%- set map = relation.incorporate(path={"identifier": relation.identifier ~ "__person_map"}) -%}
    create table if not exists {{ map }} (kantata_user_id text primary key, resource_id text);
    truncate {{ map }};
    insert into {{ map }} (kantata_user_id, resource_id)
    select source_id, resource_id from {{ ref('int_person_crosswalk') }} where system = 'kantata'
    on conflict (kantata_user_id) do nothing;
{%- endmacro %}

{#- source() for a raw stream that may not exist yet in a warehouse (streams added after it was
    created: its table appears with the stream's first extract run). When the table is missing, an
    empty relation of the raw shape stands in, so staging and everything downstream still build. -#}
{% macro optional_source(source_name, table_name) -%}
    {%- set rel = source(source_name, table_name) -%}
    {%- if execute and adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
        (select null::text as source_id, null::timestamptz as source_modified_at, false as is_deleted,
                null::text as batch_id, null::timestamptz as loaded_at, null::jsonb as payload
         where false)
    {%- else -%}
        {{ rel }}
    {%- endif -%}
{%- endmacro %}

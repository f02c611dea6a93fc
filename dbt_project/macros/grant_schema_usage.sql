{#- dbt's `grants` config grants SELECT on each relation; a role also needs USAGE on the schema.
    Grant it for every schema whose models grant a role SELECT, and nothing else: the analyst
    never gets USAGE on staging, intermediate, restricted or outbox. -#}
{% macro grant_schema_usage() %}
    {%- if execute -%}
        {%- set usage = {} -%}
        {%- for node in graph.nodes.values() if node.resource_type in ('model', 'snapshot', 'seed') -%}
            {%- for role in (node.config.grants or {}).get('select', []) -%}
                {%- do usage.setdefault(node.schema, []) -%}
                {%- if role not in usage[node.schema] -%}{%- do usage[node.schema].append(role) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for schema, roles in usage.items() -%}
            {%- set exists = run_query("select 1 from pg_namespace where nspname = '" ~ schema ~ "'") -%}
            {%- if exists | length > 0 -%}
                {%- for role in roles -%}
                    {%- do run_query('grant usage on schema "' ~ schema ~ '" to "' ~ role ~ '"') -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}

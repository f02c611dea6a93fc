{#- Custom schemas are used as named (`canonical`, not `analytics_canonical`), so analysts see
    stable names; HANDOFF_DBT_SCHEMA_PREFIX (e.g. `t1_`) lets tests and benchmarks build beside
    the platform's schemas in one warehouse. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = env_var('HANDOFF_DBT_SCHEMA_PREFIX', '') -%}
    {%- if custom_schema_name is none -%}
        {{ prefix }}{{ target.schema | trim }}
    {%- else -%}
        {{ prefix }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

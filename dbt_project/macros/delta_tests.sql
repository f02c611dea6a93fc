{#- Data tests over the large tables, proportional to the change (macros/delta.sql, point 3).

    In an incremental `dbt build` (the transform DAG's cycles), a test of canonical.time_entry or of a
    delta model checks only the rows this invocation rewrote: the time entries recorded in
    intermediate.time_entry__changes since the invocation started (the rest held when they were written
    and nothing they depend on was rebuilt). It checks every row when:
      - the command is not `build`, or the build is a full refresh;
      - the tested model is not selected in this invocation, or another parent of the test is (a
        relationships test's `to` model: a removed project could orphan unchanged entries);
      - time_entry was (re)created in this invocation (its full-refresh marker), or a tested delta model
        was built in full (its small inputs changed; intermediate.delta__watermarks.last_delta).

    Generic tests opt in with `config: {where: "delta_scope(<time entry id column>)"}`; singular tests
    call delta_test_keys([...models]) and use the subquery it returns (none = check everything), as
    `= any(array<subquery>)` so that the tested tables are read through their keys' indexes. -#}

{#- The subquery of time entry ids rewritten in this invocation, when every model in `models` (names)
    was built incrementally here and `others` (names of the test's other parents) were not rebuilt;
    none otherwise. -#}
{% macro delta_test_keys(models, others=[]) -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set selected_names = [] -%}
    {%- for uid in selected_resources -%}
        {%- set n = graph.nodes.get(uid) -%}
        {%- if n is not none and n.resource_type == 'model' %}{% do selected_names.append(n.name) %}{% endif -%}
    {%- endfor -%}
    {%- for m in models -%}
        {%- if m not in selected_names %}{{ return(none) }}{% endif -%}
    {%- endfor -%}
    {%- for o in others -%}
        {%- if o in selected_names %}{{ return(none) }}{% endif -%}
    {%- endfor -%}
    {%- set ch = time_entry_changes_relation() -%}
    {%- set wm = delta_watermarks_relation() -%}
    {%- if adapter.get_relation(database=ch.database, schema=ch.schema, identifier=ch.identifier) is none
          or adapter.get_relation(database=wm.database, schema=wm.schema, identifier=wm.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ '+00' -%}
    {%- set delta_models = [] -%}
    {%- for m in models if m != 'time_entry' -%}
        {%- set n = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | selectattr('name', 'equalto', m) | first -%}
        {%- do delta_models.append(n.schema ~ '.' ~ (n.alias or n.name)) -%}
    {%- endfor -%}
    {%- set res = run_query(
        "select (select count(*) from " ~ ch ~ " where is_full and changed_at >= '" ~ since ~ "'::timestamptz - interval '1 minute'), "
        ~ "(select count(*) from " ~ wm ~ " where model in ('" ~ (delta_models | join("','")) ~ "') "
        ~ "and built_at >= '" ~ since ~ "'::timestamptz - interval '1 minute' and last_delta)") -%}
    {%- if res.rows[0][0] > 0 or res.rows[0][1] < (delta_models | length) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return("(select c.time_entry_id from " ~ ch ~ " as c where c.changed_at >= '" ~ since
              ~ "'::timestamptz - interval '1 minute' and not c.is_full and c.time_entry_id is not null)") }}
{%- endmacro %}

{#- Generic tests: `where: "delta_scope(<column>)"` restricts the tested model to the time entries
    rewritten by this invocation (delta_test_keys over the tested model and the test's other parents);
    any other `where` behaves as dbt's. -#}
{% macro postgres__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and where.startswith('delta_scope(') -%}
        {%- set column = where[12:-1] | trim -%}
        {%- set tested, others = [], [] -%}
        {%- for uid in model.depends_on.nodes -%}
            {%- set n = graph.nodes.get(uid) -%}
            {%- if n is not none -%}
                {%- if (n.alias or n.name) == relation.identifier and n.schema == relation.schema -%}
                    {%- do tested.append(n.name) -%}
                {%- else -%}
                    {%- do others.append(n.name) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set keys = delta_test_keys(tested, others) if tested else none -%}
        {%- if keys is none -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ column ~ " = any(array" ~ keys ~ ")) dbt_subquery") -%}
    {%- endif -%}
    {%- do return(default__get_where_subquery(relation)) -%}
{%- endmacro %}

{#- Filter of intermediate.time_entry__changes rows recorded by this invocation (for tests that read the
    changes' keys themselves; use only when delta_test_keys(...) returned a subquery). -#}
{% macro delta_test_changes_filter(alias='c') -%}
    {{ alias }}.changed_at >= '{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}+00'::timestamptz - interval '1 minute'
    and not {{ alias }}.is_full
{%- endmacro %}

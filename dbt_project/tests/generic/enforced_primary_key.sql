{#- Passes when the column is the table's primary key in the database (unique and not null for
    every row ever written, checked by Postgres on each insert): the key test for tables of millions
    of rows, where unique/not_null tests would re-read every row at each build. -#}
{% test enforced_primary_key(model, column_name) %}
select '{{ column_name }}' as missing_primary_key
where not exists (
    select 1
    from pg_index as i
    join pg_class as c on c.oid = i.indrelid
    join pg_namespace as n on n.oid = c.relnamespace
    join pg_attribute as a on a.attrelid = c.oid and a.attnum = i.indkey[0]
    where i.indisprimary and i.indnatts = 1
      and n.nspname = '{{ model.schema }}' and c.relname = '{{ model.identifier }}'
      and a.attname = '{{ column_name }}'
)
{% endtest %}

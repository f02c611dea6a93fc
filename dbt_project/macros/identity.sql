{#- Identity-resolution normalizations (used by the int_*_crosswalk models; unit-tested in
    models/intermediate/_intermediate__unit_tests.yml). -#}

{#- A company name reduced to what identifies it: lower case, accents kept, a trailing region tag in
    parentheses dropped ("(EMEA)"), punctuation to spaces, legal-form suffixes dropped (corp,
    corporation, inc, incorporated, ltd, limited, llc, plc, gmbh, ag, co, company, sa, bv), spaces
    collapsed. Words that name a different business (group, holdings, industries, labs) are kept:
    "Initech Group" is not "Initech Holdings". -#}
{% macro normalize_company_name(expr) -%}
    nullif(trim(regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(coalesce({{ expr }}, '')), '\s*\([^)]*\)\s*$', ''),
                '[^a-z0-9]+', ' ', 'g'),
            '(\s(corp|corporation|inc|incorporated|ltd|limited|llc|plc|gmbh|ag|co|company|sa|bv))+\s*$', ''),
        '\s+', ' ', 'g')), '')
{%- endmacro %}

{#- A web address reduced to its host: scheme, `www.`, path, port and trailing dot dropped, lower case. -#}
{% macro normalize_domain(expr) -%}
    nullif(regexp_replace(regexp_replace(regexp_replace(lower(trim(coalesce({{ expr }}, ''))),
        '^[a-z]+://', ''), '^www\.', ''), '[:/?#].*$|\.$', ''), '')
{%- endmacro %}

{#- An email address for matching: trimmed, lower case. -#}
{% macro normalize_email(expr) -%}
    nullif(lower(trim({{ expr }})), '')
{%- endmacro %}

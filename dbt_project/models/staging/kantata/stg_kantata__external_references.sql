{#- Kantata external references of workspaces and users (`include=external_references`), as the
    extract embeds them in each record's payload (`external_references`: a list, or a map by id).
    Empty until the extract asks for them; the crosswalks then fall back to their other rules. -#}
with subjects as (
    select 'Workspace' as subject_type, source_id as subject_id, payload, loaded_at
    from {{ source('raw_kantata', 'workspaces') }}
    where not is_deleted
    union all
    select 'User', source_id, payload, loaded_at
    from {{ source('raw_kantata', 'users') }}
    where not is_deleted
),

refs as (
    select s.subject_type, s.subject_id, s.loaded_at, r.value as ref
    from subjects as s
    cross join lateral jsonb_array_elements(
        case jsonb_typeof(s.payload -> 'external_references')
            when 'array' then s.payload -> 'external_references'
            when 'object' then (select coalesce(jsonb_agg(v), '[]'::jsonb)
                                from jsonb_each(s.payload -> 'external_references') as e(k, v))
            else '[]'::jsonb
        end
    ) as r(value)
)

select
    coalesce(ref ->> 'id', subject_type || ':' || subject_id || ':' || (ref ->> 'service_name')) as external_reference_id,
    subject_type,
    subject_id,
    lower(ref ->> 'service_name') as service_name,
    ref ->> 'service_model' as service_model,
    ref ->> 'service_model_ref' as service_model_ref,
    ref ->> 'status' as status,
    loaded_at as _loaded_at
from refs
where nullif(ref ->> 'service_model_ref', '') is not null

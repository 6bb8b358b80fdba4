{#- A record's person: through its e-mail, else its phone (int_identity). Written once, here:
    int_person_records_resolved resolves every record with it, and the models that need one
    source's records resolve them directly, which at 1 M people saved 2-5 s per source
    against joining the resolved view back on record_id. Use once per select: the joined
    identities are aliased by_email and by_phone. -#}
{% macro join_identity(relation, email='email', phone='phone') -%}
    left join {{ ref('int_identity') }} as by_email
        on {{ relation }}.{{ email }} = by_email.identifier and by_email.identifier_type = 'email'
    {%- if phone %}
    left join {{ ref('int_identity') }} as by_phone
        on {{ relation }}.{{ phone }} = by_phone.identifier and by_phone.identifier_type = 'phone'
    {%- endif %}
{%- endmacro %}

{#- column='build_person_number' gives the build's number for the person instead of its key. -#}
{% macro resolved_person_key(phone=true, column='person_key') -%}
    {%- if phone -%}
        coalesce(by_email.{{ column }}, by_phone.{{ column }})
    {%- else -%}
        by_email.{{ column }}
    {%- endif -%}
{%- endmacro %}

{#- Records of a relation with the person each belongs to (the columns of
    int_person_records_resolved); the CRM support level, a political opinion, is left out. -#}
{% macro resolved_records(relation) -%}
    select
        {{ relation }}.* exclude (support_level),  -- noqa: RF02
        {{ resolved_person_key() }} as person_key,
        by_phone.person_key as phone_person_key,
        {{ resolved_person_key(column='build_person_number') }} as build_person_number,
        by_phone.build_person_number as phone_build_person_number
    from {{ relation }}
    {{ join_identity(relation) }}
{%- endmacro %}

{#- A restricted contact list for one channel (GDPR rules 1, 2, 3, 9). -#}
{% macro contact_list(purpose, identifier_column) %}
with persons as (
    select * from {{ ref('int_persons') }}
),

consents as (
    select * from {{ ref('int_consent_current') }}
),

tombstones as (
    select * from {{ ref('stg_compliance__tombstones') }}
),

opted_in as (
    select
        person_key,
        consent_event_id,
        wording_version,
        occurred_at
    from consents
    where purpose = '{{ purpose }}' and is_granted
),

final as (
    select
        persons.person_key,
        persons.{{ identifier_column }},
        persons.first_name,
        opted_in.wording_version as consent_wording_version,
        opted_in.occurred_at as consent_given_at
    from persons
    inner join opted_in on persons.person_key = opted_in.person_key
    where
        persons.{{ identifier_column }} is not null
        and not persons.is_minor
        and not persons.is_objector
        and socle_hmac(persons.{{ identifier_column }}) not in (
            select tombstones.identifier_hash from tombstones
        )
)

select * from final
{% endmacro %}

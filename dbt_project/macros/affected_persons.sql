{#-
    The persons new staged records may have changed since a model's recorded state
    (macros/resume_state.sql), for the models that compute again only those: int_persons,
    int_consent_current, consent_state_history and fct_engagement (and, for the new
    identifiers alone, int_identity and int_identity_conflicts). A person is anchored at its e-mail, else its
    phone (int_identity); the affected anchors are each identifier of a new record (and, for
    int_persons, of a new rights request), and each e-mail ever seen with one of the new
    phones: the phone may have joined that e-mail's person, or left it in a conflict. A
    record delivered again with the identifiers it had is a new record here: its persons are
    those of its identifiers (macros/record_versions.sql).
-#}

{#- The CTEs new_identifiers (the e-mail and phone of each record landed since the state,
    and with_requests, of each rights request) and touched_phones (their phones), each
    followed by a comma. int_identity and int_identity_conflicts compute again only those. -#}
{% macro new_identifier_ctes(state, with_requests=false) -%}
{#- The staging table of each record source, for the rows landed since the state. A source
    missing here has all its records taken as new: slower, never wrong. -#}
{%- set record_tables = {
    'crm_people': 'stg_crm__people',
    'crm_consents': 'stg_crm__consents',
    'events_rsvps': 'stg_events__rsvps',
    'signin_attendance': 'stg_signin__attendance',
    'canvass_contacts': 'stg_canvass__visits',
    'canvass_volunteers': 'stg_canvass__visits',
} -%}
new_identifiers as (
    select
        email,
        phone
    from {{ ref('int_person_records') }}
    where case record_source
        {%- for source, table in record_tables.items() %}
            when '{{ source }}' then {{ landed_since(state, table) }}
        {%- endfor %}
            else true
        end
    {%- if with_requests %}
    union all
    select
        email,
        phone
    from {{ ref('stg_dsr__requests') }}
    where {{ landed_since(state, 'stg_dsr__requests') }}
    {%- endif %}
),

touched_phones as (
    select distinct phone
    from new_identifiers
    where phone is not null
),
{%- endmacro %}

{#- The CTEs of new_identifier_ctes, then affected_anchors, affected_persons (this build's
    persons anchored there) and affected_identifiers (each identifier of theirs: each of
    their records carries one), each followed by a comma. -#}
{% macro affected_persons_ctes(state, with_requests=false) -%}
{{ new_identifier_ctes(state, with_requests) }}

affected_anchors as (
    select email as identifier
    from new_identifiers
    where email is not null
    union
    select phone
    from touched_phones
    union
    select person_records.email
    from {{ ref('int_person_records') }} as person_records
    where
        person_records.email is not null
        and person_records.phone in (select touched_phones.phone from touched_phones)
),

affected_persons as (
    select
        anchor_identifier,
        build_person_number,
        person_key
    from {{ ref('int_identity') }}
    where
        identifier = anchor_identifier
        and identifier_type = anchor_type
        and anchor_identifier in (select affected_anchors.identifier from affected_anchors)
),

affected_identifiers as (
    select
        identifier,
        identifier_type
    from {{ ref('int_identity') }}
    where build_person_number in (select affected_persons.build_person_number from affected_persons)
),
{%- endmacro %}

{#- The rows of a relation that belong to an affected person (or to a person of another list
    of identifiers with the columns of affected_identifiers): those whose e-mail is theirs,
    and those without an e-mail whose phone is (a record resolves through its e-mail, else
    its phone; phone=none for a relation resolved by e-mail alone). A union of two selects,
    chosen before any identity join: DuckDB does not push an OR of two IN filters below a
    view's joins. -#}
{% macro affected_records(relation, identifiers='affected_identifiers', email='email', phone='phone') -%}
    select * from {{ relation }}
    where {{ email }} in (
        select {{ identifiers }}.identifier from {{ identifiers }}
        where {{ identifiers }}.identifier_type = 'email'
    )
    {%- if phone %}
    union all
    select * from {{ relation }}
    where
        {{ email }} is null
        and {{ phone }} in (
            select {{ identifiers }}.identifier from {{ identifiers }}
            where {{ identifiers }}.identifier_type = 'phone'
        )
    {%- endif %}
{%- endmacro %}

{#- The keys whose rows a resumed build replaces without computing them: the affected
    persons that no longer exist (the affected anchors that anchor no person now: a phone's
    person whose phone moved to an e-mail) and, with every_affected, all the affected
    persons. A model marks each with a row holding only the key, which its post-hook
    deletes. None when the build did not resume. -#}
{% macro persons_to_clear(state, every_affected=false) -%}
    {%- if state %}
        {%- if every_affected %}
    select affected_persons.person_key from affected_persons
    union all
        {%- endif %}
    select socle_hmac(affected_anchors.identifier) as person_key
    from affected_anchors
    where affected_anchors.identifier not in (
        select affected_persons.anchor_identifier from affected_persons
    )
    {%- else %}
    select cast(null as varchar) as person_key
    where false
    {%- endif %}
{%- endmacro %}

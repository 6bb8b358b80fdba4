{{
    config(
        materialized='incremental',
        unique_key='person_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ forget_unless_resumable() }}",
        post_hook=[
            "delete from {{ this }} where record_count is null",
            "{{ record_resume_state() }}",
        ]
    )
}}
-- One row per person: identifiers and attributes. For each attribute the value kept is the
-- latest non-null one from the most trusted source (CRM > events > sign-in > others), unless
-- the person asked for a rectification (art. 16): the latest rectification of a field wins.
-- Rectifying an e-mail or a phone changes identity and is done at the source, not here.
{#- Each attribute comes from the most trusted, latest record that has it: each record gets
    one sort key (source_priority, observed_at to the second desc nulls last, then a hash of
    record_id),
    then each attribute is arg_min(value, key). 16 first(... order by ...) sorted every
    person's records once per attribute, and arg_min on a composite key was still 2.6x slower
    than on a single one (docs/benchmarks.md). Profile attributes are aggregated apart, over
    the records that carry any of them (docs/benchmarks.md). #}
{%- set record_attributes = ['first_name', 'last_name', 'postal_code', 'bureau_code'] %}
{%- set profile_attributes = [
    'birth_date', 'address', 'city', 'commune_code', 'iris_code', 'facebook_id', 'x_handle', 'x_user_id',
    'acquisition_source', 'is_member', 'leads_cell',
] %}
{#- Incremental: a build resumes from the state the last one recorded (macros/resume_state.sql)
    and computes again only the persons a new record or request may have changed; a person
    among them that no longer exists yields a row holding only its key, which the post-hook
    deletes. A build that cannot resume empties the table first (pre-hook) and computes every
    person. #}
{%- set state = resumable_state() %}
{%- set resolved_source = ref('int_person_records_resolved') %}
{%- if state %}
    {%- set resolved_source = '(' ~ resolved_records('scoped_records') ~ ')' %}
{%- endif %}
with
{%- if state %}
-- The persons a new record or request may have changed (macros/affected_persons.sql), and
-- their records, chosen before the identity joins, which over every record cost most of the
-- build.
{{ affected_persons_ctes(state, with_requests=true) }}

scoped_records as (
    {{ affected_records(ref('int_person_records')) }}
),

{% endif %}
records as (
    select
        resolved.*,
        -- One 64-bit sort key: source priority 1-6 (bits 60-62), undated last (bit 59), newest
        -- first (inverted whole seconds since 1970, bits 27-58, good until 2106), then 27 bits
        -- of a hash of the record id for a deterministic tie-break. The row_number() window it
        -- replaces held every record in memory beside the aggregate: out of memory at 5 M
        -- people under a 3 GB limit. A 64-bit key, not 128, makes each of the 16 arg_min
        -- states 8 bytes smaller (docs/benchmarks.md).
        (cast(resolved.source_priority as bigint) << 60)
        + (cast(resolved.observed_at is null as bigint) << 59)
        + (
            (
                4294967295
                - least(greatest(coalesce(epoch_us(resolved.observed_at), 0) // 1000000, 0), 4294967295)
            )
            << 27
        )
        + cast(hash(resolved.record_id) >> 37 as bigint) as record_rank
    from {{ resolved_source }} as resolved
    where resolved.build_person_number is not null
),

requests as (
    select * from {{ ref('stg_dsr__requests') }}
),

-- Each person's key: the row of its anchor (records are grouped on build_person_number).
-- int_identity is read from the table by each reader, never through a shared CTE: DuckDB
-- materialises a CTE with several readers and underestimates what a join with it returns,
-- which made it build a hash table of every person's attributes instead of probing with
-- them: out of memory at 5 M people, even under a 6 GB limit (docs/benchmarks.md).
person_keys as (
    select
        build_person_number,
        person_key
    from {{ ref('int_identity') }}
    where identifier = anchor_identifier and identifier_type = anchor_type
),

consents as (
    select * from {{ ref('int_consent_current') }}
    {% if state %}
        where person_key in (select affected_persons.person_key from affected_persons)
    {% endif %}
),

crm_people as (
    select * from {{ 'scoped_records' if state else ref('int_person_records') }}
    where record_source = 'crm_people'
),

-- A support level is a political opinion (art. 9): kept only for members or people with a
-- current valid membership-basis or profiling grant, and never after a profiling withdrawal.
-- Only the consents that can give or take that basis.
opinion_basis as (
    select
        person_key,
        bool_or((purpose = 'profiling' or lawful_basis = 'membership') and is_granted) as has_grant,
        bool_or(purpose = 'profiling' and status = 'withdrawn') as has_withdrawn_profiling
    from consents
    where purpose = 'profiling' or lawful_basis = 'membership'
    group by person_key
),

-- Each person's latest CRM support level, ties to the smallest record id: arg_min on one
-- key over the CRM records resolved directly, where first(... order by ...) over the
-- resolved view held every record of a person in memory until its group ended.
support_levels as (
    select
        {{ resolved_person_key() }} as person_key,
        arg_min(
            crm_people.support_level,
            (
                crm_people.observed_at is null,
                coalesce(-epoch_us(crm_people.observed_at), 0),
                crm_people.record_id
            )
        ) as support_level
    from crm_people
    {{ join_identity('crm_people') }}
    where crm_people.support_level is not null
    group by all
),

-- The basis is joined to the people with a support level, not to every person: joined to
-- the persons, its groups made DuckDB build a hash table of every person's whole row, and
-- at 5 M people the hourly run ran out of memory (docs/benchmarks.md).
lawful_support_levels as (
    select
        support_levels.person_key,
        support_levels.support_level,
        coalesce(opinion_basis.has_grant, false) as has_grant,
        coalesce(opinion_basis.has_withdrawn_profiling, false) as has_withdrawn_profiling
    from support_levels
    left join opinion_basis on support_levels.person_key = opinion_basis.person_key
),

-- Each request with every person it names: by its e-mail and by its phone, which can be two
-- persons (list_distinct drops the nulls). Equi-joins: one join on an OR of the two was a
-- nested loop over every identity.
request_persons as (
    select
        requests.*,
        unnest(list_distinct([by_email.person_key, by_phone.person_key])) as person_key
    from requests
    {{ join_identity('requests') }}
),

objections as (
    select distinct person_key
    from request_persons
    where request_type = 'objection'
),

rectifications as (
    select
        person_key,
        lower(trim(rectified_field)) as rectified_field,
        rectified_value
    from request_persons
    where request_type = 'rectification' and rectified_field is not null
    qualify row_number() over (
            partition by person_key, lower(trim(rectified_field))
            order by received_at desc nulls last, request_id desc
        ) = 1
),

rectified as (
    select
        person_key,
        max(rectified_value) filter (where rectified_field = 'first_name') as first_name,
        max(rectified_value) filter (where rectified_field = 'last_name') as last_name,
        max(rectified_value) filter (where rectified_field = 'address') as address,
        max(rectified_value) filter (where rectified_field = 'postal_code') as postal_code,
        max(rectified_value) filter (where rectified_field = 'city') as city,
        max(try_cast(rectified_value as date)) filter (where rectified_field = 'birth_date') as birth_date
    from rectifications
    group by person_key
),

attributes as (
    select
        build_person_number,
        min(email) as email,
        arg_min(phone, record_rank) filter (where phone_build_person_number = build_person_number) as phone,
        {%- for attribute in record_attributes %}
            arg_min({{ attribute }}, record_rank)
            filter (where {{ attribute }} is not null) as {{ attribute }},
        {%- endfor %}
        count(*) as record_count,
        min(first_observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from records
    group by build_person_number
),

-- The profile (birth date, address, social ids, membership...) comes from few records: the
-- CRM's, 1 M of 10 M at 1 M people. Aggregated over those alone it costs 1.9 s; as 11 more
-- arg_min states over every record it cost 10 s more. A record carrying none of them would
-- be passed over by each attribute's filter anyway: the result is the same.
profiles as (
    select
        {%- for attribute in profile_attributes %}
            arg_min({{ attribute }}, record_rank)
            filter (where {{ attribute }} is not null) as {{ attribute }},
        {%- endfor %}
        build_person_number
    from records
    where
        {%- for attribute in profile_attributes %}
            {{ attribute }} is not null or
        {%- endfor %}
        false
    group by build_person_number
),

final as (
    select
        person_keys.person_key,
        attributes.email,
        attributes.phone,
        coalesce(rectified.first_name, attributes.first_name) as first_name,
        coalesce(rectified.last_name, attributes.last_name) as last_name,
        coalesce(rectified.address, profiles.address) as address,
        coalesce(rectified.postal_code, attributes.postal_code) as postal_code,
        coalesce(rectified.city, profiles.city) as city,
        profiles.commune_code,
        profiles.iris_code,
        attributes.bureau_code,
        profiles.facebook_id,
        profiles.x_handle,
        profiles.x_user_id,
        profiles.acquisition_source,
        coalesce(rectified.birth_date, profiles.birth_date) as birth_date,
        date_sub('year', coalesce(rectified.birth_date, profiles.birth_date), {{ as_of_date() }}) as age,
        case
            when
                (coalesce(profiles.is_member, false) or lawful_support_levels.has_grant)
                and not lawful_support_levels.has_withdrawn_profiling
                then lawful_support_levels.support_level
        end as support_level,
        attributes.record_count,
        coalesce(
            date_sub('year', coalesce(rectified.birth_date, profiles.birth_date), {{ as_of_date() }})
            < {{ var('adult_age') }},
            false
        ) as is_minor,
        coalesce(profiles.is_member, false) as is_member,
        coalesce(profiles.leads_cell, false) as leads_cell,
        objections.person_key is not null as is_objector,
        attributes.first_seen_at,
        attributes.last_seen_at
    from attributes
    inner join person_keys on attributes.build_person_number = person_keys.build_person_number
    left join profiles on attributes.build_person_number = profiles.build_person_number
    left join objections on person_keys.person_key = objections.person_key
    left join rectified on person_keys.person_key = rectified.person_key
    left join lawful_support_levels on person_keys.person_key = lawful_support_levels.person_key
),

-- On a resumed build, the persons it could have changed that no longer exist (else none):
-- the affected anchors that anchor no person now, a row each holding only the key, which the
-- post-hook deletes.
gone as (
    {{ persons_to_clear(state) }}
)

select * from final  -- noqa: AM07
union all by name
select gone.person_key from gone

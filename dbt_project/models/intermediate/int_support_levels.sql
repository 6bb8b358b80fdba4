-- The CRM support level of a person (a political opinion, GDPR art. 9), kept only for
-- members or people with a current valid membership-basis or profiling grant, and never
-- after a profiling withdrawal. Never copied to marts. Apart from int_persons so that the
-- persons are built without waiting for the consent models.
with persons as (
    select * from {{ ref('int_persons') }}
),

consents as (
    select * from {{ ref('int_consent_current') }}
),

crm_people as (
    select * from {{ ref('int_person_records') }}
    where record_source = 'crm_people' and support_level is not null
),

opinion_basis as (
    select
        person_key,
        bool_or((purpose = 'profiling' or lawful_basis = 'membership') and is_granted) as has_grant,
        bool_or(purpose = 'profiling' and status = 'withdrawn') as has_withdrawn_profiling
    from consents
    group by person_key
),

latest_levels as (
    select
        {{ resolved_person_key() }} as person_key,
        first(
            crm_people.support_level
            order by crm_people.observed_at desc nulls last, crm_people.record_id asc
        ) as support_level
    from crm_people
    {{ join_identity('crm_people') }}
    group by {{ resolved_person_key() }}
),

final as (
    select
        latest_levels.person_key,
        latest_levels.support_level
    from latest_levels
    inner join persons on latest_levels.person_key = persons.person_key
    left join opinion_basis on latest_levels.person_key = opinion_basis.person_key
    where
        (persons.is_member or coalesce(opinion_basis.has_grant, false))
        and not coalesce(opinion_basis.has_withdrawn_profiling, false)
)

select * from final

{{ config(materialized='view') }}
-- People whose support may be scored (a score is an inferred political opinion, GDPR art. 9):
-- members (art. 9(2)(d), or a grant recorded under the membership basis) or a current valid
-- profiling consent; adults only; objectors never. A current profiling withdrawal excludes
-- even a member: they asked not to be profiled.
-- A view: supporter_scores, its only reader, holds one row per person of it and carries the
-- tests on its keys and bases; a table here was a second copy of those keys, written each build.
with persons as (
    select * from {{ ref('int_persons') }}
),

consents as (
    select * from {{ ref('int_consent_current') }}
),

per_person as (
    select
        person_key,
        bool_or(purpose = 'profiling' and is_granted) as has_profiling_consent,
        bool_or(purpose = 'profiling' and status = 'withdrawn') as has_withdrawn_profiling,
        bool_or(lawful_basis = 'membership' and is_granted) as has_membership_grant
    from consents
    group by person_key
),

final as (
    select
        persons.person_key,
        persons.bureau_code,
        persons.iris_code,
        case
            when persons.is_member or coalesce(per_person.has_membership_grant, false) then 'membership'
            else 'consent'
        end as profiling_basis
    from persons
    left join per_person on persons.person_key = per_person.person_key
    where
        (
            persons.is_member
            or coalesce(per_person.has_membership_grant, false)
            or coalesce(per_person.has_profiling_consent, false)
        )
        and not coalesce(per_person.has_withdrawn_profiling, false)
        and not persons.is_minor
        and not persons.is_objector
)

select * from final

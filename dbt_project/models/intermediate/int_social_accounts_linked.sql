-- Social accounts linked to a person: only handles the person declared themselves
-- (facebook_id, x_user_id) and only while they hold a current valid social_matching grant.
-- Socle never infers a social identity. An account declared by two people links nobody.
-- A person's declared account is the one int_persons shows (the same records, the same
-- person_record_rank), taken from the records so that the engagement chain does not wait
-- for int_persons.
with records as (
    select
        resolved.person_key,
        resolved.facebook_id,
        resolved.x_user_id,
        {{ person_record_rank('resolved') }} as record_rank
    from {{ ref('int_person_records_resolved') }} as resolved
    where
        resolved.person_key is not null
        and (resolved.facebook_id is not null or resolved.x_user_id is not null)
),

persons as (
    select
        person_key,
        arg_min(facebook_id, record_rank) filter (where facebook_id is not null) as facebook_id,
        arg_min(x_user_id, record_rank) filter (where x_user_id is not null) as x_user_id
    from records
    group by person_key
),

consents as (
    select * from {{ ref('int_consent_current') }}
),

matching_allowed as (
    select person_key
    from consents
    where purpose = 'social_matching' and is_granted
),

declared as (
    select
        'facebook' as platform,
        facebook_id as account_id,
        person_key
    from persons
    where facebook_id is not null
    union all
    select
        'x' as platform,
        x_user_id as account_id,
        person_key
    from persons
    where x_user_id is not null
),

unambiguous as (
    select
        platform,
        account_id,
        min(person_key) as person_key
    from declared
    group by platform, account_id
    having count(distinct person_key) = 1
),

final as (
    select
        unambiguous.platform,
        unambiguous.account_id,
        unambiguous.person_key,
        'declared_handle' as link_basis
    from unambiguous
    inner join matching_allowed on unambiguous.person_key = matching_allowed.person_key
)

select * from final

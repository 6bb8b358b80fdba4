-- Social accounts linked to a person: only handles the person declared themselves
-- (facebook_id, x_user_id) and only while they hold a current valid social_matching grant.
-- Socle never infers a social identity. An account declared by two people links nobody.
-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
with persons as not materialized (
    select * from {{ ref('int_persons') }}
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

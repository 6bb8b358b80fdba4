-- int_social_accounts_linked picks each person's declared accounts from the records itself
-- (so that it need not wait for int_persons): they must be exactly the accounts int_persons
-- shows, for the people with a current social_matching grant, unless two people declared one.
with declared as (
    select
        'facebook' as platform,
        facebook_id as account_id,
        person_key
    from {{ ref('int_persons') }}
    where facebook_id is not null
    union all
    select
        'x' as platform,
        x_user_id as account_id,
        person_key
    from {{ ref('int_persons') }}
    where x_user_id is not null
),

expected as (
    select
        declared.platform,
        declared.account_id,
        min(declared.person_key) as person_key
    from declared
    group by declared.platform, declared.account_id
    having count(distinct declared.person_key) = 1
),

allowed as (
    select expected.*
    from expected
    inner join {{ ref('int_consent_current') }} as consents
        on
            expected.person_key = consents.person_key
            and consents.purpose = 'social_matching'
            and consents.is_granted
),

linked as (
    select
        platform,
        account_id,
        person_key
    from {{ ref('int_social_accounts_linked') }}
),

missing as (
    select * from allowed
    except all
    select * from linked
),

unexpected as (
    select * from linked
    except all
    select * from allowed
)

-- Which way and on which platform only: an account id is an identifier.
select
    'missing' as problem,
    platform
from missing
union all
select
    'unexpected' as problem,
    platform
from unexpected

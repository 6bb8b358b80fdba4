-- int_identity's build_person_number (which int_persons groups records on) and person_key
-- name the same persons: one key per number and one number per key.
with identity as (
    select * from {{ ref('int_identity') }}
),

keys_per_number as (
    select
        'build_person_number with several person_keys' as problem,
        count(*) as identifier_count
    from identity
    group by build_person_number
    having count(distinct person_key) > 1
),

numbers_per_key as (
    select
        'person_key with several build_person_numbers' as problem,
        count(*) as identifier_count
    from identity
    group by person_key
    having count(distinct build_person_number) > 1
)

select * from keys_per_number
union all
select * from numbers_per_key

-- int_identity's person_id (the build's number for a person, which int_persons groups on)
-- and person_key name the same persons: one key per number and one number per key.
with identity as (
    select * from {{ ref('int_identity') }}
),

keys_per_id as (
    select
        'person_id with several person_keys' as problem,
        count(*) as identifier_count
    from identity
    group by person_id
    having count(distinct person_key) > 1
),

ids_per_key as (
    select
        'person_key with several person_ids' as problem,
        count(*) as identifier_count
    from identity
    group by person_key
    having count(distinct person_id) > 1
)

select * from keys_per_id
union all
select * from ids_per_key

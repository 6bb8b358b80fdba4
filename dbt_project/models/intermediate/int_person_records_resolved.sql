{{ config(materialized='view') }}
-- A view: materialising ~10 M records x 25 columns cost more (20-40 s at 1 M people) than
-- the joins it saves; readers take only the columns they need.
-- Each record that belongs to a person, with that person (int_record_persons).
-- The CRM support level (a political opinion) is left out: int_persons keeps it only
-- for people with a lawful basis.
with records as (
    select * from {{ ref('int_person_records') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
),

final as (
    select
        records.* exclude (support_level),  -- noqa: RF02
        record_persons.person_key,
        record_persons.phone_person_key
    from records
    inner join record_persons
        on
            records.record_source = record_persons.record_source
            and records.record_id = record_persons.record_id
    where record_persons.person_key is not null
)

select * from final

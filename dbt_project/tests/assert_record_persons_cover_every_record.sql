-- int_record_persons is maintained incrementally: it must still hold exactly one row per
-- record of int_person_records, and a person for each record with an identifier (an
-- incremental run that missed or duplicated a record would move actions and consents).
with records as (
    select
        record_source,
        record_id,
        email is not null or phone is not null as has_identifier
    from {{ ref('int_person_records') }}
),

record_persons as (
    select
        record_source,
        record_id,
        count(*) as row_count,
        count(person_key) as person_count
    from {{ ref('int_record_persons') }}
    group by record_source, record_id
)

select
    coalesce(records.record_source, record_persons.record_source) as record_source,
    case
        when record_persons.record_id is null then 'record without a person row'
        when records.record_id is null then 'person row without a record'
        when record_persons.row_count > 1 then 'several person rows'
        else 'no person'
    end as problem
from records
full outer join record_persons
    on records.record_source = record_persons.record_source and records.record_id = record_persons.record_id
where
    records.record_id is null
    or record_persons.record_id is null
    or record_persons.row_count > 1
    or (records.has_identifier and record_persons.person_count = 0)

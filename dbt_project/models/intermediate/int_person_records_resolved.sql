{{ config(materialized='view') }}
-- A view: materialising ~10 M records x 25 columns cost more (20-40 s at 1 M people) than
-- the joins it saves; readers take only the columns they need.
-- Each person record with the person it belongs to: through its e-mail, else its phone.
-- The CRM support level (a political opinion) is left out: int_persons keeps it only
-- for people with a lawful basis.
with records as (
    select * from {{ ref('int_person_records') }}
),

identity as (
    select * from {{ ref('int_identity') }}
),

final as (
    select
        records.* exclude (support_level),  -- noqa: RF02
        coalesce(by_email.person_key, by_phone.person_key) as person_key,
        by_phone.person_key as phone_person_key
    from records
    left join identity as by_email
        on records.email = by_email.identifier and by_email.identifier_type = 'email'
    left join identity as by_phone
        on records.phone = by_phone.identifier and by_phone.identifier_type = 'phone'
)

select * from final

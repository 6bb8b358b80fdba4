{{ config(materialized='view') }}
-- A view: materialising ~10 M records x 25 columns cost more (20-40 s at 1 M people) than
-- the joins it saves; readers take only the columns they need.
-- Each person record with the person it belongs to (macro resolved_person_key).
-- The CRM support level (a political opinion) is left out: int_persons keeps it only
-- for people with a lawful basis.
with records as (
    select * from {{ ref('int_person_records') }}
),

final as (
    {{ resolved_records('records') }}
)

select * from final

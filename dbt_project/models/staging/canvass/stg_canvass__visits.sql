{{
    config(
        materialized='incremental',
        unique_key='visit_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('canvass', 'visits') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        sheet || ':' || row_number as visit_id,
        sheet,
        try_cast(row_number as integer) as sheet_row_number,
        session_id,
        bureau_code,
        address,
        lower(trim(outcome)) as outcome,
        {{ to_email('volunteer_email') }} as volunteer_email,
        {{ to_email('contact_email') }} as contact_email,
        {{ to_e164("contact_phone") }} as contact_phone,
        coalesce({{ to_bool('door_opened') }}, false) as is_door_opened,
        coalesce({{ to_bool('consent_contact') }}, false) as has_consent_contact,
        try_cast(left(session_date, 10) as date) as session_date,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by visit_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['volunteer_email', 'contact_email', 'contact_phone']) }},

not_erased as (
    select * from deduplicated
    where {{ not_tombstoned(['volunteer_email', 'contact_email', 'contact_phone']) }}
),

-- Each row with its key's first staging and the start of its identifiers (macros/record_versions.sql).
final as (
    {{ record_versions(
        'not_erased', 'visit_id', ['volunteer_email', 'contact_email', 'contact_phone', 'has_consent_contact']
    ) }}
)

select * from final

{{
    config(
        materialized='incremental',
        unique_key='attendance_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('signin', 'attendance') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        sheet || ':' || row_number as attendance_id,
        sheet,
        try_cast(row_number as integer) as sheet_row_number,
        event_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        {{ to_email('email') }} as email,
        {{ to_e164("phone") }} as phone,
        postal_code,
        coalesce({{ to_bool('optin_email') }}, false) as has_optin_email,
        coalesce({{ to_bool('optin_sms') }}, false) as has_optin_sms,
        {{ to_utc('signed_at') }} as signed_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by attendance_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['email', 'phone']) }},

not_erased as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
),

-- Each row with its key's first staging and the start of its identifiers (macros/record_versions.sql).
final as (
    {{ record_versions('not_erased', 'attendance_id', ['email', 'phone']) }}
)

select * from final

{{
    config(
        materialized='incremental',
        unique_key='rsvp_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('events', 'rsvps') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        id as rsvp_id,
        event_id,
        {{ to_email('email') }} as email,
        {{ to_e164("phone") }} as phone,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        lower(status) as rsvp_status,
        role as volunteer_role,
        coalesce({{ to_bool('attended') }}, false) as has_attended,
        coalesce({{ to_bool('volunteer') }}, false) as is_volunteer,
        {{ to_utc('checked_in_at') }} as checked_in_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (
            partition by rsvp_id
            order by loaded_at desc, updated_at desc nulls last, batch_id desc
        ) = 1
),

{{ erased_identifiers('deduplicated', ['email', 'phone']) }},

not_erased as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
),

-- Each row with its key's first staging and the start of its identifiers (macros/record_versions.sql).
final as (
    {{ record_versions('not_erased', 'rsvp_id', ['email', 'phone']) }}
)

select * from final

with source as (
    select * from {{ landing_source('signin', 'attendance') }}
),

renamed as (
    select
        sheet || ':' || row_number as attendance_id,
        sheet,
        try_cast(row_number as integer) as sheet_row_number,
        event_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        socle_email(email) as email,
        {{ to_e164("phone") }} as phone,
        postal_code,
        coalesce({{ to_bool('optin_email') }}, false) as has_optin_email,
        coalesce({{ to_bool('optin_sms') }}, false) as has_optin_sms,
        {{ to_utc('signed_at') }} as signed_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (partition by attendance_id order by loaded_at desc, batch_id desc) = 1
),

final as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
)

select * from final

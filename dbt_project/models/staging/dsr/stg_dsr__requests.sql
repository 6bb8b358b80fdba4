with source as (
    select * from {{ landing_source('dsr', 'requests') }}
),

renamed as (
    select
        request_id,
        lower(trim(type)) as request_type,
        {{ to_email('email') }} as email,
        {{ to_e164("phone") }} as phone,
        field as rectified_field,
        new_value as rectified_value,
        {{ to_utc('received_at') }} as received_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by request_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['email', 'phone']) }},

final as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
)

select * from final

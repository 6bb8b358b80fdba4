with source as (
    select * from {{ landing_source('opendata', 'reu_addresses') }}
),

renamed as (
    select
        address_id,
        commune_code,
        bureau_code,
        bureau_key,
        iris_code,
        street,
        postal_code,
        try_cast(longitude as double) as longitude,
        try_cast(latitude as double) as latitude,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

final as (
    select * from renamed
    qualify row_number() over (partition by address_id order by loaded_at desc, batch_id desc) = 1
)

select * from final

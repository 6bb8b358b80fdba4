with source as (
    select * from {{ landing_source('events', 'events') }}
),

renamed as (
    select
        id as event_id,
        title as event_title,
        lower(kind) as event_kind,
        address,
        postal_code,
        city,
        bureau_code,
        iris_code,
        {{ to_utc('starts_at') }} as starts_at,
        {{ to_utc('ends_at') }} as ends_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

final as (
    select * from renamed
    qualify row_number() over (
            partition by event_id
            order by loaded_at desc, updated_at desc nulls last, batch_id desc
        ) = 1
)

select * from final

with source as (
    select * from {{ landing_source('facebook', 'posts') }}
),

renamed as (
    select
        id as post_id,
        message as post_text,
        permalink_url,
        {{ to_utc('created_time') }} as created_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

final as (
    select * from renamed
    qualify row_number() over (partition by post_id order by loaded_at desc, batch_id desc) = 1
)

select * from final

with source as (
    select * from {{ landing_source('facebook', 'comments') }}
),

renamed as (
    select
        id as comment_id,
        post_id,
        from_id as account_id,
        parent_id as parent_comment_id,
        from_name as account_name,
        message as comment_text,
        {{ to_utc('created_time') }} as created_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (partition by comment_id order by loaded_at desc, batch_id desc) = 1
),

-- An erased person's declared account is tombstoned as socle_hmac('facebook_id:' || id) by
-- socle.tombstones; the bare id is matched too.
final as (
    select * from deduplicated
    where {{ not_tombstoned(['account_id', "'facebook_id:' || lower(trim(account_id))"]) }}
)

select * from final

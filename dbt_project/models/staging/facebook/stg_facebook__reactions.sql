{{
    config(
        materialized='incremental',
        unique_key='reaction_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('facebook', 'reactions') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        post_id || ':' || user_id as reaction_id,
        post_id,
        user_id as account_id,
        user_name as account_name,
        upper(type) as reaction_type,
        -- The Graph API gives reactions no time: the post's time stands in for it.
        {{ to_utc('post_created_time') }} as post_created_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by reaction_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['account_id', "'facebook_id:' || lower(trim(account_id))"]) }},

-- An erased person's declared account is tombstoned as socle_hmac('facebook_id:' || id) by
-- socle.tombstones; the bare id is matched too.
final as (
    select * from deduplicated
    where {{ not_tombstoned(['account_id', "'facebook_id:' || lower(trim(account_id))"]) }}
)

select * from final

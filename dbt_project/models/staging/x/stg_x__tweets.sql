{{
    config(
        materialized='incremental',
        unique_key='tweet_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('x', 'tweets') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        id as tweet_id,
        author_id as account_id,
        referenced_tweet_id,
        conversation_id,
        author_username as account_username,
        text as tweet_text,
        lower(kind) as tweet_kind,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by tweet_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['account_id', "'x_user_id:' || lower(trim(account_id))"]) }},

-- An erased person's declared account is tombstoned as socle_hmac('x_user_id:' || id) by
-- socle.tombstones; the bare id is matched too.
final as (
    select * from deduplicated
    where {{ not_tombstoned(['account_id', "'x_user_id:' || lower(trim(account_id))"]) }}
)

select * from final

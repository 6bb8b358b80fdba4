with source as (
    select * from {{ landing_source('opendata', 'election_results') }}
),

renamed as (
    select
        election,
        bureau_key,
        dep_code,
        commune_code,
        bureau_code,
        nuance,
        list_name,
        candidate_last_name,
        candidate_first_name,
        try_cast(list_number as integer) as list_number,
        try_cast(registered as integer) as registered,
        try_cast(abstentions as integer) as abstentions,
        try_cast(voters as integer) as voters,
        try_cast(blank as integer) as blank_votes,
        try_cast(null_votes as integer) as null_votes,
        try_cast(expressed as integer) as expressed_votes,
        try_cast(votes as integer) as votes,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

final as (
    select * from renamed
    qualify row_number() over (
            partition by election, bureau_key, list_number
            order by loaded_at desc, batch_id desc
        ) = 1
)

select * from final

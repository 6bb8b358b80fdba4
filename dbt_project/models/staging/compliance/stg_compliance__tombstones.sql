with source as (
    select * from {{ landing_source('compliance', 'tombstones') }}
),

final as (
    select
        lower(trim(identifier_hash)) as identifier_hash,
        min(try_cast(erased_at as timestamptz)) as erased_at
    from source
    where identifier_hash is not null
    group by 1
)

select * from final

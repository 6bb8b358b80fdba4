with source as (
    select * from {{ landing_source('opendata', 'iris_population') }}
),

renamed as (
    select
        iris_code,
        commune_code,
        iris_name,
        try_cast(replace(population, ',', '.') as double) as population,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

final as (
    select * from renamed
    qualify row_number() over (partition by iris_code order by loaded_at desc, batch_id desc) = 1
)

select * from final

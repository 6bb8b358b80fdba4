with source as (
    select * from {{ landing_source('crm', 'people') }}
),

renamed as (
    select
        crm_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        socle_email(email) as email,
        {{ to_e164("phone") }} as phone,
        coalesce(
            try_cast(birth_date as date),
            cast(try_strptime(birth_date, '%d/%m/%Y') as date)
        ) as birth_date,
        address,
        postal_code,
        city,
        commune_code,
        iris_code,
        bureau_code,
        nullif(trim(facebook_id), '') as facebook_id,
        nullif(trim(x_handle), '') as x_handle,
        nullif(trim(x_user_id), '') as x_user_id,
        source as acquisition_source,
        try_cast(support_level as integer) as support_level,
        coalesce({{ to_bool('is_member') }}, false) as is_member,
        coalesce({{ to_bool('leads_cell') }}, false) as leads_cell,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (
            partition by crm_id
            order by loaded_at desc, updated_at desc nulls last, batch_id desc
        ) = 1
),

final as (
    select * from deduplicated
    where {{ not_tombstoned([
        'email',
        'phone',
        "'facebook_id:' || lower(facebook_id)",
        "'x_user_id:' || lower(x_user_id)",
    ]) }}
)

select * from final

with source as (
    select * from {{ landing_source('crm', 'consents') }}
),

renamed as (
    select
        consent_id,
        socle_email(email) as email,
        {{ to_e164("phone") }} as phone,
        lower(trim(purpose)) as purpose,
        lower(trim(status)) as status,
        lower(trim(lawful_basis)) as lawful_basis,
        nullif(trim(wording_version), '') as wording_version,
        source as collected_via,
        {{ to_utc('occurred_at') }} as occurred_at,
        {{ to_utc('_fetched_at') }} as loaded_at,
        _batch_id as batch_id
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (partition by consent_id order by loaded_at desc, batch_id desc) = 1
),

final as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
)

select * from final

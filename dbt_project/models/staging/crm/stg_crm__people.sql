{#- An erased person's declared accounts are tombstoned as socle_hmac('<kind>:' || id). -#}
{%- set erasable = [
    'email',
    'phone',
    "'facebook_id:' || lower(facebook_id)",
    "'x_user_id:' || lower(x_user_id)",
] -%}
{{
    config(
        materialized='incremental',
        unique_key='crm_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('crm', 'people') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        crm_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        {{ to_email('email') }} as email,
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

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (
            partition by crm_id
            order by loaded_at desc, updated_at desc nulls last, batch_id desc
        ) = 1
),

{{ erased_identifiers('deduplicated', erasable) }},

not_erased as (
    select * from deduplicated
    where {{ not_tombstoned(erasable) }}
),

-- Each row with its key's first staging and the start of its identifiers (macros/record_versions.sql).
final as (
    {{ record_versions('not_erased', 'crm_id', ['email', 'phone', 'facebook_id', 'x_user_id']) }}
)

select * from final

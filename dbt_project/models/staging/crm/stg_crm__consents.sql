{{
    config(
        materialized='incremental',
        unique_key='consent_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Incremental: each build stages only the rows landed since the last one (see
-- landed_after_last_build); erasures delete from the table itself (socle.dsr).
with source as (
    select * from {{ landing_source('crm', 'consents') }}
    {{ landed_after_last_build() }}
),

renamed as (
    select
        consent_id,
        {{ to_email('email') }} as email,
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

-- Materialised: the tombstone filter reads it again (distinct identifiers, then the rows).
deduplicated as materialized (
    select * from renamed
    qualify row_number() over (partition by consent_id order by loaded_at desc, batch_id desc) = 1
),

{{ erased_identifiers('deduplicated', ['email', 'phone']) }},

not_erased as (
    select * from deduplicated
    where {{ not_tombstoned(['email', 'phone']) }}
),

-- Each row with its key's first staging and the start of its identifiers (macros/record_versions.sql).
final as (
    {{ record_versions('not_erased', 'consent_id', ['email', 'phone']) }}
)

select * from final

{{
    config(
        materialized='incremental',
        unique_key=['record_source', 'record_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- The person each record belongs to: through its e-mail, else its phone (none when it has
-- no usable e-mail or phone). Narrow, so the models that only need a record's person join
-- this instead of resolving ~12 M records. Incremental runs resolve again the records landed
-- since the last run and every record carrying a phone int_identity resolved again (a phone
-- is the only identifier whose person can change), and keep the rows that changed
-- (resolved_at says when). int_persons recomputes the persons of rows resolved since its
-- last run and the persons whose record count changed.
with all_records as (
    select
        record_source,
        record_id,
        email,
        phone,
        loaded_at
    from {{ ref('int_person_records') }}
),

identity as (
    select * from {{ ref('int_identity') }}
),

{% if is_incremental() %}
    -- One watermark per source: sources land independently (see int_identity).
    watermarks as (
        select
            previous.record_source,
            max(previous.loaded_at) as loaded_at
        from {{ this }} as previous
        group by previous.record_source
    ),

    new_records as materialized (
        select all_records.* from all_records
        left join watermarks on all_records.record_source = watermarks.record_source
        where all_records.loaded_at > coalesce(watermarks.loaded_at, '-infinity'::timestamptz)
    ),

    -- Phones of the new records and those the re-delivered ones carried before, and phones
    -- int_identity resolved again in this run (it runs first): a record that did not change
    -- may still change person through one (an e-mail moved to another phone).
    touched_phones as (
        select new_records.phone from new_records
        where new_records.phone is not null
        union
        select previous.phone from {{ this }} as previous
        semi join new_records
            on
                previous.record_source = new_records.record_source
                and previous.record_id = new_records.record_id
        where previous.phone is not null
        union
        select identity.identifier from identity
        where
            identity.identifier_type = 'phone'
            and identity.resolved_at > coalesce(
                (select max(previous.resolved_at) from {{ this }} as previous), '-infinity'::timestamptz
            )
    ),

    records as (
        select * from new_records
        union
        select all_records.* from all_records
        semi join touched_phones on all_records.phone = touched_phones.phone
    ),
{% else %}
    records as (
        select * from all_records
    ),
{% endif %}

resolved as (
    select
        records.record_source,
        records.record_id,
        records.email,
        records.phone,
        coalesce(by_email.person_key, by_phone.person_key) as person_key,
        by_phone.person_key as phone_person_key,
        records.loaded_at
    from records
    left join identity as by_email
        on records.email = by_email.identifier and by_email.identifier_type = 'email'
    left join identity as by_phone
        on records.phone = by_phone.identifier and by_phone.identifier_type = 'phone'
),

final as (
    select
        resolved.record_source,
        resolved.record_id,
        resolved.email,
        resolved.phone,
        resolved.person_key,
        resolved.phone_person_key,
        resolved.loaded_at,
        now() as resolved_at
    from resolved
    {% if is_incremental() %}
        left join {{ this }} as previous
            on resolved.record_source = previous.record_source and resolved.record_id = previous.record_id
        where
            previous.record_id is null
            or resolved.loaded_at is distinct from previous.loaded_at
            or resolved.email is distinct from previous.email
            or resolved.phone is distinct from previous.phone
            or resolved.person_key is distinct from previous.person_key
            or resolved.phone_person_key is distinct from previous.phone_person_key
    {% endif %}
)

select * from final

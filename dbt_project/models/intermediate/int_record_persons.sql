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
    new_records as materialized (
        select all_records.* from all_records
        where all_records.loaded_at > (select max(previous.loaded_at) from {{ this }} as previous)
    ),

    -- Phones resolved again by int_identity in this run (it runs first): a record that did
    -- not change may still change person through one (its e-mail moved to another phone).
    touched_phones as (
        select new_records.phone from new_records
        where new_records.phone is not null
        union
        select identity.identifier from identity
        where
            identity.identifier_type = 'phone'
            and identity.resolved_at > (select max(previous.resolved_at) from {{ this }} as previous)
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
            or resolved.person_key is distinct from previous.person_key
            or resolved.phone_person_key is distinct from previous.phone_person_key
    {% endif %}
)

select * from final

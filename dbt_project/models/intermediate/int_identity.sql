{{
    config(
        materialized='incremental',
        unique_key=['identifier', 'identifier_type'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=["delete from {{ this }} where person_key is null"]
    )
}}
-- Identity resolution: one person per real human, linked by normalised e-mail OR phone.
--
-- Identifiers are nodes; a record carrying an e-mail and a phone is an edge between them;
-- a person is a connected component. Conflict rule: a phone seen with more than one
-- distinct e-mail (a household or office line) links nothing, because merging on it would
-- fuse different people; records carrying such a phone resolve through their e-mail, and
-- the phone is a person of its own only when some record carries it alone. Conflicts are
-- listed (hashed) in int_identity_conflicts.
-- Anchor = smallest e-mail of the component, else smallest phone; person_key = socle_hmac(anchor).
--
-- After the conflict rule every linking phone has exactly one e-mail, so a component is an
-- e-mail with its phones (a star): no e-mail reaches another, an e-mail is its own anchor
-- and a phone's anchor is its e-mail, else itself. No graph walk is needed (a recursive CTE
-- cost 30 s at 1 M people), and a new record changes nothing but its own identifiers:
-- incremental runs resolve again only the phones of records loaded since the last run
-- (from every record carrying them) and add the new e-mails. A phone that stops being a
-- node (it became conflicting and no record carries it alone) comes out without a person
-- and the post-hook deletes it; so does an identifier no record carries any more (a record
-- delivered again with a corrected e-mail).
with all_records as (
    select
        record_source,
        record_id,
        email,
        phone,
        loaded_at
    from {{ ref('int_person_records') }}
),

{% if is_incremental() %}
    {%- set record_persons = previous_run_relation('int_record_persons') %}
    new_records as materialized (
        select all_records.* from all_records
        where all_records.loaded_at > (select max(previous.loaded_at) from {{ this }} as previous)
    ),

    -- The identifiers of a record delivered again may have changed (a corrected e-mail): every
    -- identifier of the persons it belonged to is resolved again, and dropped if no record
    -- carries it any more. int_record_persons is built from this model, after it: here it
    -- still holds the previous run's persons (read by name: a ref would be a cycle).
    reloaded_persons as (
        {%- if record_persons %}
            select record_persons.person_key
            from {{ record_persons }} as record_persons
            semi join new_records
                on
                    record_persons.record_source = new_records.record_source
                    and record_persons.record_id = new_records.record_id
        {%- else %}
            select cast(null as varchar) as person_key
            where false
        {%- endif %}
    ),

    previous_identifiers as materialized (
        select
            previous.identifier,
            previous.identifier_type
        from {{ this }} as previous
        semi join reloaded_persons on previous.person_key = reloaded_persons.person_key
    ),

    touched_phones as (
        select phone from new_records
        where phone is not null
        union
        select identifier from previous_identifiers
        where identifier_type = 'phone'
    ),

    touched_emails as (
        select identifier as email from previous_identifiers
        where identifier_type = 'email'
    ),

    records as materialized (
        select * from new_records
        union all
        select all_records.* from all_records
        semi join touched_phones on all_records.phone = touched_phones.phone
        union all
        select all_records.* from all_records
        semi join touched_emails on all_records.email = touched_emails.email
    ),
{% else %}
    records as materialized (
        select * from all_records
    ),
{% endif %}

phones as (
    select
        phone,
        count(distinct email) > 1 as is_conflicting,
        bool_or(email is null) as is_carried_alone,
        min(email) as linked_email,
        max(loaded_at) as loaded_at
    from records
    where phone is not null
    group by phone
),

emails as (
    select
        email,
        max(loaded_at) as loaded_at
    from records
    where email is not null
    group by email
),

nodes as (
    select
        email as identifier,
        'email' as identifier_type,
        email as anchor_identifier,
        'email' as anchor_type,
        false as is_conflicting,
        true as is_node,
        loaded_at
    from emails
    union all
    select
        phone as identifier,
        'phone' as identifier_type,
        case when is_conflicting then phone else coalesce(linked_email, phone) end as anchor_identifier,
        case
            when not is_conflicting and linked_email is not null then 'email' else 'phone'
        end as anchor_type,
        is_conflicting,
        is_carried_alone or not is_conflicting as is_node,
        loaded_at
    from phones
),

final as (
    select
        identifier,
        identifier_type,
        anchor_identifier,
        anchor_type,
        case when is_node then socle_hmac(anchor_identifier) end as person_key,
        is_conflicting,
        loaded_at,
        now() as resolved_at
    from nodes
    {% if is_incremental() %}
        union all
        -- no record carries it any more: out without a person, for the post-hook to delete
        select
            previous_identifiers.identifier,
            previous_identifiers.identifier_type,
            null as anchor_identifier,
            null as anchor_type,
            null as person_key,
            false as is_conflicting,
            null as loaded_at,
            now() as resolved_at
        from previous_identifiers
        anti join nodes
            on
                previous_identifiers.identifier = nodes.identifier
                and previous_identifiers.identifier_type = nodes.identifier_type
    {% else %}
        where is_node
    {% endif %}
)

select * from final

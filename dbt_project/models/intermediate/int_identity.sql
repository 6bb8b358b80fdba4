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
-- cost 30 s at 1 M people), and a record changes nothing but its own identifiers:
-- incremental runs resolve again the e-mails of the records landed since the last run (per
-- source) and those the re-delivered records carried before, then every phone of every
-- record carrying one of them, each from all the records carrying it. A phone that stops
-- being a node (it became conflicting and no record carries it alone) comes out without a
-- person and the post-hook deletes it; so does an identifier no record carries any more.
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
    {#- int_record_persons is built from this model, after it: here it still holds the previous
        run's records (read by name: a ref would be a cycle). #}
    {%- set record_persons = previous_run_relation('int_record_persons') %}
    {%- if execute and not record_persons %}
        {{ exceptions.raise_compiler_error("int_identity is incremental but int_record_persons is missing: run a full refresh") }}
    {%- endif %}
    -- What each source had delivered at the last run: sources land independently (a batch
    -- stamped earlier can land after another source's later one), so one watermark per source.
    watermarks as (
        select
            record_persons.record_source,
            max(record_persons.loaded_at) as loaded_at
        from {{ record_persons }} as record_persons
        group by record_persons.record_source
    ),

    new_records as materialized (
        select all_records.* from all_records
        left join watermarks on all_records.record_source = watermarks.record_source
        where all_records.loaded_at > coalesce(watermarks.loaded_at, '-infinity'::timestamptz)
    ),

    -- The identifiers a record delivered again carried before (a corrected e-mail or phone):
    -- resolved again, and dropped if no record carries them any more.
    previous_identifiers as materialized (
        select
            record_persons.email,
            record_persons.phone
        from {{ record_persons }} as record_persons
        semi join new_records
            on
                record_persons.record_source = new_records.record_source
                and record_persons.record_id = new_records.record_id
    ),

    touched_emails as (
        select new_records.email from new_records
        where new_records.email is not null
        union
        select previous_identifiers.email from previous_identifiers
        where previous_identifiers.email is not null
    ),

    email_records as (
        select all_records.* from all_records
        semi join touched_emails on all_records.email = touched_emails.email
    ),

    -- A phone is resolved from every record carrying it, never from a part of them.
    touched_phones as (
        select new_records.phone from new_records
        where new_records.phone is not null
        union
        select email_records.phone from email_records
        where email_records.phone is not null
        union
        select previous_identifiers.phone from previous_identifiers
        where previous_identifiers.phone is not null
    ),

    records as materialized (
        select * from email_records
        union all
        select all_records.* from all_records
        semi join touched_phones on all_records.phone = touched_phones.phone
    ),

    gone as (
        select
            email as identifier,
            'email' as identifier_type
        from previous_identifiers
        where email is not null
        union
        select
            phone as identifier,
            'phone' as identifier_type
        from previous_identifiers
        where phone is not null
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
            gone.identifier,
            gone.identifier_type,
            null as anchor_identifier,
            null as anchor_type,
            null as person_key,
            false as is_conflicting,
            null as loaded_at,
            now() as resolved_at
        from gone
        anti join nodes
            on
                gone.identifier = nodes.identifier
                and gone.identifier_type = nodes.identifier_type
    {% else %}
        where is_node
    {% endif %}
)

select * from final

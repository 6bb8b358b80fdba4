{{
    config(
        materialized='incremental',
        unique_key='identifier_hash',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ forget_unless_resumable() }}",
        post_hook="{{ record_resume_state() }}"
    )
}}
-- Phones shared by several e-mails: not used to link people (rule in int_identity).
-- Hashed so the list can be counted and reported without exposing the number.
{#- Incremental, as int_identity: a resumed build computes again each phone of a new record
    from all the records that carry it, and its row replaces the old one. Records are only
    added when a build resumes, so a phone in conflict stays in conflict. #}
{%- set state = resumable_state() %}
with
{%- if state %}
{{ new_identifier_ctes(state) }}
{%- endif %}

records as (
    select * from {{ ref('int_person_records') }}
    {%- if state %}
        where phone in (select touched_phones.phone from touched_phones)
    {%- endif %}
),

pairs as (
    select distinct
        email,
        phone
    from records
    where email is not null and phone is not null
),

final as (
    select
        'phone' as identifier_type,
        socle_hmac(phone) as identifier_hash,
        'phone_on_several_emails' as conflict_kind,
        'not used as a link; resolved through each e-mail' as resolution,
        count(distinct email) as distinct_email_count
    from pairs
    group by phone
    having count(distinct email) > 1
)

select * from final

{{
    config(
        materialized='incremental',
        unique_key='person_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ forget_unless_resumable() }}",
        post_hook=[
            "delete from {{ this }} where purpose is null",
            "{{ record_resume_state() }}",
        ]
    )
}}
-- Current consent per person and purpose: the latest event wins (a withdrawal beats an
-- older grant, and wins a tie). A grant is valid only with a wording version and a time;
-- an undated event is older than any dated one.
{#- Incremental: a build resumes from the state the last one recorded (macros/resume_state.sql)
    and computes again only the persons a new record may have changed, from their consent
    events alone (macros/affected_persons.sql): those int_persons computes again for new
    records (rights requests change no consent).
    Each of them, and each that no longer exists, also yields a row holding only its key:
    the delete+insert on person_key removes all their old rows, and the post-hook deletes
    those marks. A build that cannot resume empties the table first (pre-hook) and computes
    every person. #}
-- depends_on: {{ ref('int_person_records') }}, {{ ref('int_identity') }}
-- depends_on: {{ ref('stg_crm__consents') }}, {{ ref('stg_signin__attendance') }}
{%- set state = resumable_state() %}
with
{%- if state %}
{{ affected_persons_ctes(state) }}

scoped_consents as (
    {{ affected_records(ref('stg_crm__consents')) }}
),

scoped_signins as (
    {{ affected_records(ref('stg_signin__attendance')) }}
),

{% endif %}
events as (
    {%- if state %}
        {{ consent_events('scoped_consents', 'scoped_signins') }}
    {%- else %}
        select * from {{ ref('int_consent_events') }}
    {%- endif %}
),

latest as (
    select * from events
    where person_key is not null
    qualify row_number() over (
            partition by person_key, purpose
            order by
                occurred_at desc nulls last,
                case when status = 'withdrawn' then 0 else 1 end,
                consent_event_id desc
        ) = 1
),

final as (
    select
        person_key,
        purpose,
        status,
        lawful_basis,
        wording_version,
        consent_event_id,
        occurred_at,
        status = 'withdrawn'
        or (
            status = 'granted'
            and wording_version is not null
            and occurred_at is not null
            and lawful_basis in ('consent', 'membership')
        ) as is_valid,
        status = 'granted'
        and wording_version is not null
        and occurred_at is not null
        and lawful_basis in ('consent', 'membership') as is_granted
    from latest
),

-- On a resumed build, the key of each person computed again and of each that no longer
-- exists (else none).
cleared as (
    {{ persons_to_clear(state, every_affected=true) }}
)

select * from final  -- noqa: AM07
union all by name
select cleared.person_key from cleared

{{
    config(
        materialized='incremental',
        unique_key='dbt_scd_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "delete from {{ this }} where person_key not in (select person_key from {{ ref('int_consent_current') }})",
            "{{ record_resume_state() }}",
        ]
    )
}}
-- History cannot be rebuilt from the sources: full_refresh=false keeps it through --full-refresh.
-- Type-2 history of the current consent state per person and purpose: a new version when the
-- state of a (person, purpose) changes, the open version closed when it changes or vanishes.
-- This was a dbt snapshot (check strategy, same columns); its staging query joined current
-- and history three times (41 s at 1 M people for an hourly run that changed nothing).
-- The post-hook forgets the whole history of erased people.
{#- Resumed (macros/resume_state.sql): only the persons whose consents new records may have
    changed since the recorded state are compared, those int_consent_current computes again
    (macros/affected_persons.sql). A person that no longer exists has no current consent: the
    post-hook forgets their history. A build that cannot resume compares every person; the
    history is never emptied. #}
-- depends_on: {{ ref('int_person_records') }}, {{ ref('int_identity') }}
{%- set state = resumable_state() %}
{%- set state_columns = [
    'status', 'lawful_basis', 'wording_version', 'consent_event_id', 'occurred_at', 'is_valid', 'is_granted'
] %}
{%- set fingerprinted = ['person_key', 'purpose'] + state_columns %}
-- Each state's fingerprint (key and state, 128 bits): a (person, purpose) that is new,
-- vanished or changed state has a row whose fingerprint the other side lacks. The anti-joins
-- hold 16-byte fingerprints where the full outer join they replace held every state column
-- of both sides (12 M rows each at 5 M people, where the hourly run ran out of memory under
-- 3 GB). Each side is read by two joins and NOT MATERIALIZED: DuckDB would otherwise copy
-- both whole tables into memory first, and the page faults of that copy made this model
-- 1.6-5.4 s of an hourly run at 1 M people, 1.3-1.6 s without (25 -> 8 s at 5 M;
-- docs/benchmarks.md): a second scan and hash of each side is cheaper.
with
{%- if state %}
{{ affected_persons_ctes(state) }}

compared_consents as (
    select * from {{ ref('int_consent_current') }}
    where person_key in (select affected_persons.person_key from affected_persons)
),

compared_history as (
    select * from {{ this }}
    where person_key in (select affected_persons.person_key from affected_persons)
),

{% endif %}
current_state as not materialized (
    select
        consent.person_key,
        consent.purpose,
        {%- for column in state_columns %}
            consent.{{ column }},
        {%- endfor %}
        {{ row_fingerprint('consent', fingerprinted) }} as fingerprint
    from {{ 'compared_consents' if state else ref('int_consent_current') }} as consent
),

-- The build's clock, as the snapshot had it (a macro, so a unit test can set it).
build_time as (
    select cast({{ current_timestamp() }} as timestamp) as built_at
),

{% if is_incremental() %}
    open_versions as not materialized (
        select
            history.*,
            {{ row_fingerprint('history', fingerprinted) }} as fingerprint
        from {{ 'compared_history' if state else this }} as history
        where history.dbt_valid_to is null
    ),

    closed_versions as (
        select
            open_versions.* exclude (fingerprint, dbt_valid_to),  -- noqa: RF02
            build_time.built_at as dbt_valid_to
        from open_versions
        cross join build_time
        anti join current_state on open_versions.fingerprint = current_state.fingerprint
    ),
{% endif %}

new_versions as (
    select
        current_state.* exclude (fingerprint),  -- noqa: RF02
        build_time.built_at as dbt_updated_at,
        build_time.built_at as dbt_valid_from,
        cast(null as timestamp) as dbt_valid_to,
        md5(
            current_state.person_key
            || '|'
            || current_state.purpose
            || '|'
            || cast(build_time.built_at as varchar)
        ) as dbt_scd_id
    from current_state
    cross join build_time
    {% if is_incremental() %}
        anti join open_versions on current_state.fingerprint = open_versions.fingerprint
    {% endif %}
)

select * from new_versions
{% if is_incremental() %}
    union all by name
    select * from closed_versions
{% endif %}

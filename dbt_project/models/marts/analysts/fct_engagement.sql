{{
    config(
        materialized='incremental',
        unique_key='action_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=["delete from {{ this }} where person_key is null"]
    )
}}
-- Every scored action with its points (seed action_points, edited by campaign staff).
-- Incremental: a run writes only the actions that are new or changed (identities merge, the
-- points scale is edited), found by comparing each action's 128-bit fingerprint with the
-- loaded ones, so late arrivals need no lookback window. An action that changed or
-- disappeared upstream (erased people, withdrawn social_matching) also yields a row holding
-- only its id, which the post-hook deletes: the table never outlives a consent, and the
-- actions (a view) are computed once a run.
{%- set compared = ['action_id', 'person_key', 'event_id', 'action_type', 'points', 'event_at'] %}
with actions as (
    select * from {{ ref('int_engagement_actions') }}
),

points as (
    select * from {{ ref('action_points') }}
),

scored as (
    select
        actions.action_id,
        actions.person_key,
        actions.event_id,
        actions.action_type,
        cast(points.points as double) as points,
        actions.event_at,
        cast(actions.event_at as date) as event_date
    from actions
    inner join points on actions.action_type = points.action_type
),

changed as (
    {% if is_incremental() %}
        -- One full outer join on 16-byte fingerprints, the loaded side carrying only its id:
        -- the join on action_id it replaces held every compared column of both sides.
        select
            coalesce(scored.action_id, loaded_action.action_id) as action_id,
            scored.person_key,
            scored.event_id,
            scored.action_type,
            scored.points,
            scored.event_at,
            scored.event_date
        from (
            select
                scored.*,
                {{ row_fingerprint('scored', compared) }} as fingerprint
            from scored
        ) as scored
        full outer join (
            select
                loaded_action.action_id,
                {{ row_fingerprint('loaded_action', compared) }} as fingerprint
            from {{ this }} as loaded_action
        ) as loaded_action
            on scored.fingerprint = loaded_action.fingerprint
        where scored.fingerprint is null or loaded_action.fingerprint is null
    {% else %}
        select * from scored
    {% endif %}
),

final as (
    select
        action_id,
        person_key,
        event_id,
        action_type,
        points,
        event_at,
        event_date
    from changed
)

select * from final

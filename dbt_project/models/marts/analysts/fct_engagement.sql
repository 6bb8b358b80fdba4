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
-- Incremental on event time: a run rewrites actions newer than the last loaded one minus a
-- lookback, plus any older action whose person or points changed (identities merge, the
-- points scale is edited). An action that disappeared upstream (erased people, withdrawn
-- social_matching) is replaced by a row holding only its id, which the post-hook deletes:
-- the table never outlives a consent, and the actions (a view) are computed once a run.
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
        select
            coalesce(scored.action_id, loaded_action.action_id) as action_id,
            scored.person_key,
            scored.event_id,
            scored.action_type,
            scored.points,
            scored.event_at,
            scored.event_date
        from scored
        full outer join {{ this }} as loaded_action on scored.action_id = loaded_action.action_id
        where
            scored.action_id is null
            or loaded_action.action_id is null
            or scored.event_at >= (
                select max(previous_run.event_at) - to_days({{ var('engagement_lookback_days') }})
                from {{ this }} as previous_run
            )
            or scored.person_key is distinct from loaded_action.person_key
            or scored.points is distinct from loaded_action.points
            or scored.event_at is distinct from loaded_action.event_at
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

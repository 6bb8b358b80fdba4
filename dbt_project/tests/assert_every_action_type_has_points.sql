{{ config(severity='warn') }}
-- Every kind of action int_engagement_actions emits has points in the action_points seed:
-- fct_engagement joins the seed and leaves the other kinds' actions out.
with kinds as (
    select unnest([
        {%- for kind in engagement_action_types() %}
            {{ action_type(kind) }}{{ "," if not loop.last }}
        {%- endfor %}
    ]) as action_type
)

select kinds.action_type
from kinds
anti join {{ ref('action_points') }} as points on kinds.action_type = points.action_type

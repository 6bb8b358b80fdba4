-- Engagement score ("political capital") per person, as of the scoring date: each action's
-- points halved every score_half_life_days; rank within the bureau de vote; tier by
-- thresholds. Only people in int_supporters_profilable are scored (lawful basis, adults,
-- no objection). Actions after as_of are ignored so a rerun for a past date agrees.
{%- set as_of = as_of_date() %}
with profilable as (
    select * from {{ ref('int_supporters_profilable') }}
),

engagement as (
    select * from {{ ref('fct_engagement') }}
),

decayed as (
    select
        engagement.person_key,
        sum(
            engagement.points * power(
                0.5,
                date_diff('day', engagement.event_date, {{ as_of }}) / {{ var('score_half_life_days') }}
            )
        ) as score,
        count(*) as action_count,
        max(engagement.event_at) as last_action_at
    from engagement
    where engagement.event_date <= {{ as_of }}
    group by engagement.person_key
),

scored as (
    select
        profilable.person_key,
        profilable.bureau_code,
        profilable.iris_code,
        profilable.profiling_basis,
        round(coalesce(decayed.score, 0), 4) as score,
        coalesce(decayed.action_count, 0) as action_count,
        decayed.last_action_at
    from profilable
    left join decayed on profilable.person_key = decayed.person_key
),

final as (
    select
        person_key,
        bureau_code,
        iris_code,
        profiling_basis,
        score,
        cast(action_count as bigint) as action_count,
        cast(row_number() over (
            partition by bureau_code
            order by score desc, person_key asc
        ) as bigint) as rank_in_bureau,
        case
            when score >= {{ var('tier_cell_leader_min_score') }} then 'cell_leader_candidate'
            when score >= {{ var('tier_militant_assidu_min_score') }} then 'militant_assidu'
            when score >= {{ var('tier_militant_min_score') }} then 'militant'
            else 'sympathisant'
        end as tier,
        last_action_at,
        {{ as_of }} as as_of_date
    from scored
)

select * from final

-- The campaign funnel per day, from the first recorded activity to the scoring date:
-- social reactions -> newly identified supporters -> RSVPs -> attendees -> volunteers ->
-- cell-leader candidates. Daily counts, running totals, and conversion rates between
-- consecutive stages on the running totals (null when the earlier stage is still zero).
-- Social reactions are counted per account, never linked to a person here.
{%- set as_of = as_of_date() %}
with fb_reactions as (
    select * from {{ ref('stg_facebook__reactions') }}
),

x_retweets as (
    select * from {{ ref('stg_x__retweets') }}
),

-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
supporters as not materialized (
    select * from {{ ref('dim_supporter') }}
),

engagement as (
    select * from {{ ref('fct_engagement') }}
),

candidates as (
    select * from {{ ref('cell_leader_candidates') }}
),

-- Reactions carry no time of their own: dated by the post they react to.
reactions as (
    select cast(post_created_at as date) as activity_date
    from fb_reactions
    union all
    select cast(tweet_created_at as date) as activity_date
    from x_retweets
),

daily_reactions as (
    select
        activity_date,
        count(*) as reactions
    from reactions
    group by activity_date
),

-- A person enters a stage on the day of their first action of that kind, so running totals
-- count distinct people.
first_actions as (
    select
        person_key,
        action_type,
        min(event_date) as activity_date
    from engagement
    where action_type in ('rsvp', 'attendance', 'volunteer_shift') and event_date <= {{ as_of }}
    group by person_key, action_type
),

daily_actions as (
    select
        activity_date,
        count(*) filter (where action_type = 'rsvp') as rsvps,
        count(*) filter (where action_type = 'attendance') as attendees,
        count(*) filter (where action_type = 'volunteer_shift') as volunteers
    from first_actions
    group by activity_date
),

-- The funnel starts with the campaign's first activity (a reaction or an action); people
-- identified earlier (e.g. a CRM history) are counted on that first day.
bounds as (
    select min(activity_date) as first_date
    from (
        select activity_date from daily_reactions
        union all
        select activity_date from daily_actions
    ) as dated
    where activity_date <= {{ as_of }}
),

daily_identified as (
    select
        greatest(cast(supporters.first_seen_at as date), bounds.first_date) as activity_date,
        count(*) as identified_supporters
    from supporters
    cross join bounds
    group by greatest(cast(supporters.first_seen_at as date), bounds.first_date)
),

-- Today's candidates, counted from the day each was first seen.
daily_candidates as (
    select
        greatest(cast(supporters.first_seen_at as date), bounds.first_date) as activity_date,
        count(*) as cell_leader_candidates
    from candidates
    inner join supporters on candidates.person_key = supporters.person_key
    cross join bounds
    group by greatest(cast(supporters.first_seen_at as date), bounds.first_date)
),

spine as (
    select cast(unnest(generate_series(first_date, {{ as_of }}, interval 1 day)) as date) as activity_date
    from bounds
    where first_date is not null
),

daily as (
    select
        spine.activity_date,
        cast(coalesce(daily_reactions.reactions, 0) as bigint) as reactions,
        cast(coalesce(daily_identified.identified_supporters, 0) as bigint) as identified_supporters,
        cast(coalesce(daily_actions.rsvps, 0) as bigint) as rsvps,
        cast(coalesce(daily_actions.attendees, 0) as bigint) as attendees,
        cast(coalesce(daily_actions.volunteers, 0) as bigint) as volunteers,
        cast(coalesce(daily_candidates.cell_leader_candidates, 0) as bigint) as new_cell_leader_candidates
    from spine
    left join daily_reactions on spine.activity_date = daily_reactions.activity_date
    left join daily_identified on spine.activity_date = daily_identified.activity_date
    left join daily_actions on spine.activity_date = daily_actions.activity_date
    left join daily_candidates on spine.activity_date = daily_candidates.activity_date
),

running as (
    select
        *,
        cast(sum(reactions) over (order by activity_date) as bigint) as cumulative_reactions,
        cast(sum(identified_supporters) over (order by activity_date) as bigint)
            as cumulative_identified_supporters,
        cast(sum(rsvps) over (order by activity_date) as bigint) as cumulative_rsvps,
        cast(sum(attendees) over (order by activity_date) as bigint) as cumulative_attendees,
        cast(sum(volunteers) over (order by activity_date) as bigint) as cumulative_volunteers,
        cast(sum(new_cell_leader_candidates) over (order by activity_date) as bigint)
            as cumulative_cell_leader_candidates
    from daily
),

final as (
    select
        activity_date,
        reactions,
        identified_supporters,
        rsvps,
        attendees,
        volunteers,
        new_cell_leader_candidates,
        cumulative_reactions,
        cumulative_identified_supporters,
        cumulative_rsvps,
        cumulative_attendees,
        cumulative_volunteers,
        cumulative_cell_leader_candidates,
        round(cumulative_identified_supporters / nullif(cumulative_reactions, 0), 4)
            as identified_per_reaction,
        round(cumulative_rsvps / nullif(cumulative_identified_supporters, 0), 4) as rsvp_rate,
        round(cumulative_attendees / nullif(cumulative_rsvps, 0), 4) as attendance_rate,
        round(cumulative_volunteers / nullif(cumulative_attendees, 0), 4) as volunteer_rate,
        round(cumulative_cell_leader_candidates / nullif(cumulative_volunteers, 0), 4) as cell_leader_rate
    from running
)

select * from final

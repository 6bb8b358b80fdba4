{#- The actions of int_engagement_actions from the staged rows it reads (relations or select
    statements): the staging tables, or on a resumed fct_engagement the rows whose actions
    may have changed. Events and linked accounts are read whole. -#}
{% macro engagement_actions(rsvps, signins, visits, comments, reactions, tweets, retweets) -%}
    with rsvps as (
        select * from {{ rsvps }}
    ),

    events as (
        select * from {{ ref('stg_events__events') }}
    ),

    signins as (
        select * from {{ signins }}
    ),

    visits as (
        select * from {{ visits }}
    ),

    comments as (
        select * from {{ comments }}
    ),

    reactions as (
        select * from {{ reactions }}
    ),

    tweets as (
        select * from {{ tweets }}
    ),

    retweets as (
        select * from {{ retweets }}
    ),

    -- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
    accounts as not materialized (
        select * from {{ ref('int_social_accounts_linked') }}
    ),

    rsvp_people as (
        select
            rsvps.rsvp_id,
            rsvps.event_id,
            {{ resolved_person_key() }} as person_key,
            rsvps.rsvp_status,
            rsvps.has_attended,
            rsvps.is_volunteer,
            rsvps.checked_in_at,
            rsvps.updated_at,
            events.starts_at
        from rsvps
        {{ join_identity('rsvps') }}
        left join events on rsvps.event_id = events.event_id
    ),

    rsvp_actions as (
        select
            'rsvp:' || rsvp_id as action_id,
            person_key,
            event_id,
            {{ action_type('rsvp') }} as action_type,
            updated_at as event_at
        from rsvp_people
        where rsvp_status = 'going'
        union all
        select
            'volunteer:' || rsvp_id as action_id,
            person_key,
            event_id,
            {{ action_type('volunteer_shift') }} as action_type,
            coalesce(checked_in_at, starts_at, updated_at) as event_at
        from rsvp_people
        -- a shift counts once it was done: signing up for a future event is the RSVP's action
        where is_volunteer and rsvp_status = 'going' and has_attended
    ),

    rsvp_attendances as (
        select
            'attend:' || rsvp_id as action_id,
            person_key,
            event_id,
            {{ action_type('attendance') }} as action_type,
            coalesce(checked_in_at, starts_at, updated_at) as event_at
        from rsvp_people
        where has_attended
    ),

    signin_actions as (
        select
            'signin:' || signins.attendance_id as action_id,
            {{ resolved_person_key() }} as person_key,
            signins.event_id,
            {{ action_type('attendance') }} as action_type,
            signins.signed_at as event_at
        from signins
        {{ join_identity('signins') }}
    ),

    canvass_actions as (
        select
            'canvass:' || visits.visit_id as action_id,
            {{ resolved_person_key(phone=false) }} as person_key,
            visits.session_id as event_id,
            {{ action_type('canvass_door') }} as action_type,
            cast(visits.session_date as timestamptz) as event_at
        from visits
        {{ join_identity('visits', email='volunteer_email', phone=none) }}
    ),

    social_actions as (
        select
            'fb_comment:' || comments.comment_id as action_id,
            accounts.person_key,
            comments.post_id as event_id,
            {{ action_type('facebook_comment') }} as action_type,
            comments.created_at as event_at
        from comments
        inner join accounts on accounts.platform = 'facebook' and comments.account_id = accounts.account_id
        union all
        select
            'fb_reaction:' || reactions.reaction_id as action_id,
            accounts.person_key,
            reactions.post_id as event_id,
            {{ action_type('facebook_reaction') }} as action_type,
            reactions.post_created_at as event_at
        from reactions
        inner join accounts on accounts.platform = 'facebook' and reactions.account_id = accounts.account_id
        union all
        select
            'x_tweet:' || tweets.tweet_id as action_id,
            accounts.person_key,
            tweets.referenced_tweet_id as event_id,
            case tweets.tweet_kind
                when 'mention' then {{ action_type('x_mention') }}
                when 'reply' then {{ action_type('x_reply') }}
                when 'quote' then {{ action_type('x_quote') }}
            end as action_type,
            tweets.created_at as event_at
        from tweets
        inner join accounts on accounts.platform = 'x' and tweets.account_id = accounts.account_id
        where tweets.tweet_kind in ('mention', 'reply', 'quote')
        union all
        select
            'x_retweet:' || retweets.retweet_id as action_id,
            accounts.person_key,
            retweets.tweet_id as event_id,
            {{ action_type('x_retweet') }} as action_type,
            retweets.tweet_created_at as event_at
        from retweets
        inner join accounts on accounts.platform = 'x' and retweets.account_id = accounts.account_id
    ),

    unioned as (
        select * from rsvp_actions
        union all
        select * from canvass_actions
        union all
        select * from social_actions
    ),

    attendances as (
        select * from rsvp_attendances
        union all
        select * from signin_actions
    ),

    -- Someone checked in on the platform and on the sheet attended once. Only attendances go
    -- through the window (a sort), in a branch of their own: the other ~70 % of actions pass
    -- as they are, and no branch is read twice (a shared one was held whole in memory).
    final as (
        select * from unioned
        where person_key is not null and event_at is not null
        union all
        select * from attendances
        where person_key is not null and event_at is not null
        qualify
            event_id is null
            or row_number() over (partition by person_key, event_id order by event_at, action_id) = 1
    )

    select * from final
{%- endmacro %}

{#- The ids of the actions the social and canvassing rows landed since the state give or gave
    (the id is the staged row's key, as in engagement_actions above: keep the two in step). A
    re-delivered row may give no action now (a kind that does not count, no time), so a
    resumed fct_engagement compares its loaded action whoever it belonged to. -#}
{% macro landed_action_ids(state) -%}
    select 'fb_comment:' || comment_id as action_id
    from {{ ref('stg_facebook__comments') }}
    where {{ landed_since(state, 'stg_facebook__comments') }}
    union all
    select 'fb_reaction:' || reaction_id
    from {{ ref('stg_facebook__reactions') }}
    where {{ landed_since(state, 'stg_facebook__reactions') }}
    union all
    select 'x_tweet:' || tweet_id
    from {{ ref('stg_x__tweets') }}
    where {{ landed_since(state, 'stg_x__tweets') }}
    union all
    select 'x_retweet:' || retweet_id
    from {{ ref('stg_x__retweets') }}
    where {{ landed_since(state, 'stg_x__retweets') }}
    union all
    select 'canvass:' || visit_id
    from {{ ref('stg_canvass__visits') }}
    where {{ landed_since(state, 'stg_canvass__visits') }}
{%- endmacro %}

{{
    config(
        materialized='incremental',
        unique_key='action_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "delete from {{ this }} where person_key is null",
            "{{ record_resume_state() }}",
        ],
        meta={
            'new_rows_rebuild': ['stg_events__events'],
            'replaced_rows_are_new': [
                'stg_facebook__comments', 'stg_facebook__reactions', 'stg_x__tweets', 'stg_x__retweets',
            ],
        }
    )
}}
-- Every scored action with its points (seed action_points, edited by campaign staff).
-- Incremental: a run writes only the actions that are new or changed (identities merge, the
-- points scale is edited), found by comparing each action's 128-bit fingerprint with the
-- loaded ones, so late arrivals need no lookback window. An action that changed or
-- disappeared upstream (erased people, withdrawn social_matching) also yields a row holding
-- only its id, which the post-hook deletes: the table never outlives a consent, and the
-- actions (a view) are computed once a run.
{#- A build that resumes from the state the last one recorded (macros/resume_state.sql)
    computes and compares only the actions new rows may have changed: those of the persons
    int_persons computes again for new records (macros/affected_persons.sql), of every
    person declaring a social account one of them ever declared (a link moves, or ends in an
    ambiguity, between declarants), and of the social and canvassing rows landed since (a
    door knocked is its volunteer's by e-mail, which never changes person). The loaded side
    of the comparison is those persons' actions but their doors knocked, the vanished
    persons', and the actions the social and canvassing rows landed since gave before. A
    social row replaced by a newer delivery is one of those rows (meta
    replaced_rows_are_new), and so is a record re-delivered with the identifiers it had
    (macros/record_versions.sql): its persons are those of its identifiers now. A record
    re-delivered with other identifiers may change its person, and a new event (its start
    time dates the shifts) changes actions of unchanged persons: then a build computes and
    compares every action. #}
{%- set compared = ['action_id', 'person_key', 'event_id', 'action_type', 'points', 'event_at'] %}
{%- set state = resumable_state() %}
-- depends_on: {{ ref('int_person_records') }}, {{ ref('int_identity') }}, {{ ref('int_persons') }}
-- depends_on: {{ ref('stg_events__rsvps') }}, {{ ref('stg_signin__attendance') }}
-- depends_on: {{ ref('stg_canvass__visits') }}, {{ ref('stg_events__events') }}
-- depends_on: {{ ref('int_social_accounts_linked') }}
-- depends_on: {{ ref('stg_facebook__comments') }}, {{ ref('stg_facebook__reactions') }}
-- depends_on: {{ ref('stg_x__tweets') }}, {{ ref('stg_x__retweets') }}
with
{%- if state %}
{{ affected_persons_ctes(state) }}

-- Every social account declared on a record of an affected person, and every person who
-- declares one now: their links may have changed.
declared_accounts as (
    select
        'facebook' as platform,
        facebook_id as account_id
    from ({{ affected_records(ref('int_person_records')) }})
    where facebook_id is not null
    union
    select
        'x' as platform,
        x_user_id as account_id
    from ({{ affected_records(ref('int_person_records')) }})
    where x_user_id is not null
),

engaged_persons as (
    select affected_persons.person_key from affected_persons
    union
    select persons.person_key
    from {{ ref('int_persons') }} as persons
    where
        persons.facebook_id in (
            select declared_accounts.account_id from declared_accounts
            where declared_accounts.platform = 'facebook'
        )
        or persons.x_user_id in (
            select declared_accounts.account_id from declared_accounts
            where declared_accounts.platform = 'x'
        )
),

engaged_identifiers as (
    select
        identifier,
        identifier_type
    from {{ ref('int_identity') }}
    where person_key in (select engaged_persons.person_key from engaged_persons)
),

engaged_accounts as (
    select
        platform,
        account_id
    from {{ ref('int_social_accounts_linked') }}
    where person_key in (select engaged_persons.person_key from engaged_persons)
),

-- The loaded actions compared: those of the engaged persons (their doors knocked aside) and
-- of the vanished ones, and those of the social and canvassing rows landed since.
compared_persons as (
    select engaged_persons.person_key from engaged_persons
    union all
    {{ persons_to_clear(state) }}
),

landed_actions as (
    {{ landed_action_ids(state) }}
),

{%- for name, relation in [('rsvps', 'stg_events__rsvps'), ('signins', 'stg_signin__attendance')] %}

scoped_{{ name }} as (
    {{ affected_records(ref(relation), 'engaged_identifiers') }}
),
{%- endfor %}

-- A door knocked is its volunteer's by e-mail, and an e-mail is always its own person's
-- anchor: only the visits landed since have new actions (their loaded ones are not compared).
scoped_visits as (
    select * from {{ ref('stg_canvass__visits') }}
    where {{ landed_since(state, 'stg_canvass__visits') }}
),
{%- for name, relation, platform in [
    ('comments', 'stg_facebook__comments', 'facebook'),
    ('reactions', 'stg_facebook__reactions', 'facebook'),
    ('tweets', 'stg_x__tweets', 'x'),
    ('retweets', 'stg_x__retweets', 'x'),
] %}

scoped_{{ name }} as (
    select * from {{ ref(relation) }}
    where
        {{ landed_since(state, relation) }}
        or account_id in (
            select engaged_accounts.account_id from engaged_accounts
            where engaged_accounts.platform = '{{ platform }}'
        )
),
{%- endfor %}

{% endif %}
actions as (
    {%- if state %}
        {{
            engagement_actions(
                rsvps='scoped_rsvps',
                signins='scoped_signins',
                visits='scoped_visits',
                comments='scoped_comments',
                reactions='scoped_reactions',
                tweets='scoped_tweets',
                retweets='scoped_retweets',
            )
        }}
    {%- else %}
        select * from {{ ref('int_engagement_actions') }}
    {%- endif %}
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
            {%- if state %}
                where
                    (
                        loaded_action.person_key in (select compared_persons.person_key from compared_persons)
                        and loaded_action.action_type != {{ action_type('canvass_door') }}
                    )
                    or loaded_action.action_id in (
                        select landed_actions.action_id from landed_actions
                    )
            {%- endif %}
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

{{
    config(
        materialized='incremental',
        unique_key='account_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ forget_unless_resumable() }}",
        post_hook=[
            "delete from {{ this }} where platform is null",
            "{{ record_resume_state() }}",
        ],
        meta={'replaced_rows_are_new': [
            'stg_facebook__comments', 'stg_facebook__reactions', 'stg_x__tweets', 'stg_x__retweets',
        ]}
    )
}}
-- Per social account (not per person): explainable activity features over the last
-- social_watch_days days before as_of, and a label from transparent thresholds (vars).
-- The comment text is read only to count lexicon matches: it never reaches this table, nor
-- does any name or handle; the account is a keyed hash of platform and account id.
{#- Incremental: within a scoring date the window does not move, so an account's features
    change only when a comment or reaction of its lands. A build resumes from the state the
    last one recorded (macros/resume_state.sql) and computes again only the accounts with
    rows landed since; each of them also yields a row holding only its key, so that the
    delete+insert on account_key clears its old row even when it has none now (its rows
    moved out of the window), and the post-hook deletes those marks. A staged row replaced by
    a newer delivery (a reaction changed, a comment edited) is one of those rows: a social
    row keeps its author (reactions and retweets are keyed by it, and a comment or a tweet
    keeps its author on the platforms), so the newer row touches the account the older one
    counted for (meta replaced_rows_are_new); social rows leave staging otherwise only by
    erasure, which makes a full refresh. A build that cannot resume (a new
    scoring date, new code, vars or lexicon) empties the table first (pre-hook) and computes
    every account, so accounts fall out of the window once a day. #}
{%- set state = resumable_state() %}
{%- set as_of = as_of_date() %}
{%- set window_start = "(" ~ as_of ~ " - interval " ~ var('social_watch_days') ~ " day)" %}
{%- set window_end = "(" ~ as_of ~ " + interval 1 day)" %}
{%- set account_key = "socle_hmac(platform || ':' || lower(trim(account_id)))" %}
{%- set social_tables = {
    'stg_facebook__comments': 'facebook',
    'stg_facebook__reactions': 'facebook',
    'stg_x__tweets': 'x',
    'stg_x__retweets': 'x',
} %}
with
{%- if state %}
-- The accounts with a comment or reaction landed since the last build.
touched_accounts as (
    {%- for table, platform in social_tables.items() %}
    select
        '{{ platform }}' as platform,
        account_id
    from {{ ref(table) }}
    where {{ landed_since(state, table) }}
    {{- "\n    union" if not loop.last }}
    {%- endfor %}
),
{%- endif %}
{#- On a resumed build, each import keeps the touched accounts' rows alone. #}

fb_comments as (
    select * from {{ ref('stg_facebook__comments') }}
    {% if state %}
        where account_id in (select account_id from touched_accounts where platform = 'facebook')
    {% endif %}
),

fb_reactions as (
    select * from {{ ref('stg_facebook__reactions') }}
    {% if state %}
        where account_id in (select account_id from touched_accounts where platform = 'facebook')
    {% endif %}
),

x_tweets as (
    select * from {{ ref('stg_x__tweets') }}
    {% if state %}
        where account_id in (select account_id from touched_accounts where platform = 'x')
    {% endif %}
),

x_retweets as (
    select * from {{ ref('stg_x__retweets') }}
    {% if state %}
        where account_id in (select account_id from touched_accounts where platform = 'x')
    {% endif %}
),

-- The lexicon as one list of folded terms (lower case, no accents).
lexicon as (
    select coalesce(list(distinct strip_accents(lower(trim(term)))), []) as terms
    from {{ ref('hostile_lexicon') }}
    where trim(term) != ''
),

-- Comments: Facebook comments, and mentions/replies/quotes on X (the campaign's own posts
-- are not comments about it).
comments as (
    select  -- noqa: AM07
        'facebook' as platform,
        account_id,
        comment_id,
        created_at,
        comment_text
    from fb_comments
    union all
    select
        'x' as platform,
        account_id,
        tweet_id as comment_id,
        created_at,
        tweet_text as comment_text
    from x_tweets
    where tweet_kind in ('mention', 'reply', 'quote')
),

comments_in_window as (
    select
        platform,
        account_id,
        comment_id,
        created_at,
        strip_accents(lower(coalesce(comment_text, ''))) as folded_text
    from comments
    where
        account_id is not null
        and created_at >= {{ window_start }}
        and created_at < {{ window_end }}
),

-- Each comment's text is folded once, then tested against the list of terms: a join on
-- contains() folded it again for every term and regrouped millions of comments (104 s at M).
comment_flags as (
    select
        comments_in_window.platform,
        comments_in_window.account_id,
        comments_in_window.comment_id,
        comments_in_window.created_at,
        coalesce(
            list_bool_or(
                list_transform(
                    lexicon.terms,
                    lambda term: contains(comments_in_window.folded_text, term)  -- noqa: RF02
                )
            ),
            false
        ) as is_hostile_language
    from comments_in_window
    cross join lexicon
),

-- Comments per account and hour, then per account: the burst (most comments in one hour)
-- comes out of the same pass as the counts.
hourly as (
    select
        platform,
        account_id,
        count(*) as comments_in_hour,
        count(*) filter (where is_hostile_language) as hostile_comments_in_hour,
        max(created_at) as last_comment_at
    from comment_flags
    group by platform, account_id, date_trunc('hour', created_at)
),

comment_features as (
    select
        platform,
        account_id,
        sum(comments_in_hour) as comment_count,
        sum(hostile_comments_in_hour) as hostile_comment_count,
        max(comments_in_hour) as max_comments_in_hour,
        max(last_comment_at) as last_comment_at
    from hourly
    group by platform, account_id
),

-- Reactions carry no time of their own: they are dated by the post they react to.
-- Retweets count as reactions on X (no angry kind there).
reactions as (
    select  -- noqa: AM07
        'facebook' as platform,
        account_id,
        upper(reaction_type) as reaction_type,
        post_created_at as reacted_post_at
    from fb_reactions
    union all
    select
        'x' as platform,
        account_id,
        'RETWEET' as reaction_type,
        tweet_created_at as reacted_post_at
    from x_retweets
),

reaction_features as (
    select
        platform,
        account_id,
        count(*) as reaction_count,
        count(*) filter (where reaction_type = 'ANGRY') as angry_reaction_count,
        max(reacted_post_at) as last_reacted_post_at
    from reactions
    where
        account_id is not null
        and reacted_post_at >= {{ window_start }}
        and reacted_post_at < {{ window_end }}
    group by platform, account_id
),

-- An account with comments, reactions or both: a full join USING gives each key once.
features as (
    select
        {{ account_key }} as account_key,
        platform,
        cast(coalesce(comment_features.comment_count, 0) as bigint) as comment_count,
        cast(coalesce(comment_features.hostile_comment_count, 0) as bigint) as hostile_comment_count,
        cast(coalesce(comment_features.max_comments_in_hour, 0) as bigint) as max_comments_in_hour,
        cast(coalesce(reaction_features.reaction_count, 0) as bigint) as reaction_count,
        cast(coalesce(reaction_features.angry_reaction_count, 0) as bigint) as angry_reaction_count,
        greatest(comment_features.last_comment_at, reaction_features.last_reacted_post_at)
            as last_seen_at
    from comment_features
    full outer join reaction_features using (platform, account_id)  -- noqa: ST07
),

ratios as (
    select
        *,
        round(coalesce(hostile_comment_count / nullif(comment_count, 0), 0), 4) as hostile_language_share,
        round(reaction_count / nullif(comment_count, 0), 4) as reactions_per_comment,
        round(coalesce(angry_reaction_count / nullif(reaction_count, 0), 0), 4) as angry_reaction_share
    from features
),

final as (
    select
        account_key,
        platform,
        comment_count,
        hostile_comment_count,
        hostile_language_share,
        max_comments_in_hour,
        reaction_count,
        reactions_per_comment,
        angry_reaction_count,
        angry_reaction_share,
        case
            when
                comment_count >= {{ var('social_hostile_min_comments') }}
                and hostile_language_share >= {{ var('social_hostile_min_lexicon_share') }}
                then 'hostile'
            when
                max_comments_in_hour >= {{ var('social_hostile_min_burst') }}
                and hostile_comment_count > 0
                then 'hostile'
            when
                reaction_count >= {{ var('social_hostile_min_reactions') }}
                and angry_reaction_share >= {{ var('social_hostile_min_angry_share') }}
                then 'hostile'
            when
                reaction_count + comment_count >= {{ var('social_supporter_min_reactions') }}
                and angry_reaction_share <= {{ var('social_supporter_max_angry_share') }}
                and hostile_comment_count = 0
                then 'supporter'
            else 'neutral'
        end as label,  -- noqa: RF04
        last_seen_at,
        {{ as_of }} as as_of_date,
        {{ as_of }} - {{ var('social_watch_days') }} as window_start_date
    from ratios
),

-- On a resumed build, the key of each touched account (else none). The noqa AM07 above:
-- this union by name makes sqlfluff miscount the columns of the unions it reads.
touched_keys as (
    {% if state %}
        select {{ account_key }} as account_key
        from touched_accounts
    {% else %}
        select cast(null as varchar) as account_key
        where false
    {% endif %}
)

select * from final  -- noqa: AM07
union all by name
select touched_keys.account_key from touched_keys

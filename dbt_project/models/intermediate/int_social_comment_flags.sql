{{
    config(
        materialized='incremental',
        unique_key=['platform', 'comment_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Every comment about the campaign (Facebook comments; X mentions, replies and quotes) and
-- whether its text uses a term of the hostile lexicon (seed hostile_lexicon). The text is
-- folded once (lower case, no accents) and tested against the list of terms; it never
-- leaves this model. Incremental: a run reads only the comments landed since the last one
-- (per platform), unless the lexicon changed (its digest is on every row), when all are
-- flagged again.
with fb_comments as (
    select * from {{ ref('stg_facebook__comments') }}
),

x_tweets as (
    select * from {{ ref('stg_x__tweets') }}
),

-- The lexicon as one sorted list of folded terms, and its digest.
lexicon as (
    select
        terms,
        md5(array_to_string(terms, chr(10))) as lexicon_digest
    from (
        select coalesce(list_sort(list(distinct strip_accents(lower(trim(term))))), []) as terms
        from {{ ref('hostile_lexicon') }}
        where trim(term) != ''
    )
),

comments as (
    select
        'facebook' as platform,
        account_id,
        comment_id,
        created_at,
        comment_text,
        loaded_at
    from fb_comments
    union all
    -- the campaign's own posts are not comments about it
    select
        'x' as platform,
        account_id,
        tweet_id as comment_id,
        created_at,
        tweet_text as comment_text,
        loaded_at
    from x_tweets
    where tweet_kind in ('mention', 'reply', 'quote')
),

to_flag as (
    select
        comments.platform,
        comments.account_id,
        comments.comment_id,
        comments.created_at,
        strip_accents(lower(coalesce(comments.comment_text, ''))) as folded_text,
        comments.loaded_at
    from comments
    {% if is_incremental() %}
        where
            -- one watermark per platform: they land independently
            comments.loaded_at > coalesce(
                (
                    select max(previous.loaded_at) from {{ this }} as previous
                    where previous.platform = comments.platform
                ),
                '-infinity'::timestamptz
            )
            or (select max(previous.lexicon_digest) from {{ this }} as previous)
            is distinct from (select lexicon.lexicon_digest from lexicon)
    {% endif %}
),

final as (
    select
        to_flag.platform,
        to_flag.account_id,
        to_flag.comment_id,
        to_flag.created_at,
        coalesce(
            list_bool_or(
                list_transform(
                    lexicon.terms,
                    lambda term: contains(to_flag.folded_text, term)  -- noqa: RF02
                )
            ),
            false
        ) as is_hostile_language,
        lexicon.lexicon_digest,
        to_flag.loaded_at
    from to_flag
    cross join lexicon
)

select * from final

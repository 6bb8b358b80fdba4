{{ config(materialized='view') }}
-- A view: fct_engagement, its one reader, stores these rows with their points; as a table
-- they were written twice (8 M rows, 326 MB of the 2.4 GB warehouse at 1 M people).
-- Every action a known person took, one row per action, before points are applied.
-- Social actions count only through accounts linked in int_social_accounts_linked; the
-- others belong to the person their record resolves to (macro resolved_person_key).
{{
    engagement_actions(
        rsvps=ref('stg_events__rsvps'),
        signins=ref('stg_signin__attendance'),
        visits=ref('stg_canvass__visits'),
        comments=ref('stg_facebook__comments'),
        reactions=ref('stg_facebook__reactions'),
        tweets=ref('stg_x__tweets'),
        retweets=ref('stg_x__retweets'),
    )
}}

{{
    config(
        materialized='incremental',
        unique_key=['person_key', 'as_of_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "delete from {{ this }} where person_key not in (select person_key from {{ ref('supporter_scores') }})"
        ]
    )
}}
-- History cannot be rebuilt from the sources: full_refresh=false keeps it through --full-refresh.
-- One row per person and scoring date: how a supporter's score and tier evolved. A rerun for
-- the same date replaces that date. The post-hook forgets the whole history of anyone who
-- may no longer be scored (erased, objected, withdrew profiling, lost membership): anyone
-- not in supporter_scores, which has a row for every person who may be.
with scores as (
    select * from {{ ref('supporter_scores') }}
),

final as (
    select
        person_key,
        bureau_code,
        iris_code,
        profiling_basis,
        score,
        action_count,
        rank_in_bureau,
        tier,
        last_action_at,
        as_of_date
    from scores
)

select * from final

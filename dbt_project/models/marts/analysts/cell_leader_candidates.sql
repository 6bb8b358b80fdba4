-- Top-N activists per neighbourhood (bureau de vote, with its IRIS) who could lead a cell:
-- scored (supporter_scores already enforces the lawful basis, adulthood and no objection),
-- with a current valid grant for at least one contact channel, adult and not an objector
-- (checked again here), not leading a cell already. Every neighbourhood is listed, those
-- without a candidate with a null person_key, so organisers see the gaps too.
{%- set as_of = as_of_date() %}
-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
with scores as not materialized (
    select * from {{ ref('supporter_scores') }}
),

supporters as (
    select * from {{ ref('dim_supporter') }}
),

addresses as (
    select * from {{ ref('stg_opendata__reu_addresses') }}
),

eligible as (
    select
        scores.person_key,
        scores.bureau_code,
        scores.iris_code,
        scores.score,
        scores.tier,
        scores.action_count,
        scores.last_action_at
    from scores
    inner join supporters on scores.person_key = supporters.person_key
    where
        scores.bureau_code is not null
        and not supporters.leads_cell
        and not supporters.is_objector
        and supporters.age_band != 'under_18'
        and (
            supporters.has_consent_email
            or supporters.has_consent_sms
            or supporters.has_consent_phone
            or supporters.has_consent_canvassing
        )
),

ranked as (
    select
        *,
        row_number() over (
            partition by bureau_code, iris_code
            order by score desc, person_key asc
        ) as candidate_rank
    from eligible
    qualify candidate_rank <= {{ var('cell_leader_top_n') }}
),

-- Neighbourhoods: every bureau/IRIS pair of the electoral register, plus those of scored people.
neighbourhoods as (
    select distinct
        bureau_code,
        iris_code
    from addresses
    where bureau_code is not null
    union
    select distinct
        bureau_code,
        iris_code
    from scores
    where bureau_code is not null
),

final as (
    select
        neighbourhoods.bureau_code,
        neighbourhoods.iris_code,
        cast(ranked.candidate_rank as bigint) as candidate_rank,
        ranked.person_key,
        ranked.score,
        ranked.tier,
        cast(ranked.action_count as bigint) as action_count,
        ranked.last_action_at,
        ranked.person_key is not null as has_candidate,
        {{ as_of }} as as_of_date
    from neighbourhoods
    left join ranked
        on
            neighbourhoods.bureau_code = ranked.bureau_code
            and neighbourhoods.iris_code is not distinct from ranked.iris_code
)

select * from final

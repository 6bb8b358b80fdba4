-- Where to knock next, per bureau de vote: the latest municipal round-1 results, the
-- campaign's bloc share, the voters it could mobilise among abstainers, the INSEE population
-- of the bureau's IRIS, canvassing done so far and known supporters. Canvassing outcomes
-- are counted per bureau only.
--
-- priority_rank: 1 = most mobilisable voters not yet knocked, where
-- remaining_mobilisable_voters = greatest(mobilisable_voters - doors_knocked, 0); ties by
-- bureau_key.
-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
with results as not materialized (
    select * from {{ ref('stg_opendata__election_results') }}
),

blocs as (
    select * from {{ ref('nuance_blocs') }}
),

-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
addresses as not materialized (
    select * from {{ ref('stg_opendata__reu_addresses') }}
),

iris_population as (
    select * from {{ ref('stg_opendata__iris_population') }}
),

visits as (
    select * from {{ ref('stg_canvass__visits') }}
),

supporters as (
    select * from {{ ref('dim_supporter') }}
),

-- The latest election present (names end with <year>_t<round>, e.g. municipales_2020_t1).
latest_election as (
    select election
    from results
    where election is not null
    order by
        try_cast(regexp_extract(election, '(\d{4})', 1) as integer) desc nulls last,
        election desc
    limit 1
),

-- Results are long (one row per list); bureau totals repeat on every list row, so they are
-- taken once per bureau, and only list votes are summed.
bureau_results as (
    select
        results.bureau_key,
        any_value(results.bureau_code) as bureau_code,
        any_value(results.election) as election,
        max(results.registered) as registered_voters,
        max(results.abstentions) as abstentions,
        max(results.expressed_votes) as expressed_votes,
        sum(results.votes) filter (where blocs.bloc = '{{ var("campaign_bloc") }}') as bloc_votes
    from results
    inner join latest_election on results.election = latest_election.election
    left join blocs on upper(trim(results.nuance)) = blocs.nuance
    where results.bureau_key is not null
    group by results.bureau_key
),

-- Bureau codes used by volunteers and the CRM map to a bureau key through the register,
-- when the code is unambiguous there.
bureau_codes as (
    select
        bureau_code,
        any_value(bureau_key) as bureau_key
    from addresses
    where bureau_code is not null and bureau_key is not null
    group by bureau_code
    having count(distinct bureau_key) = 1
),

-- An IRIS's population is shared among its bureaux by their share of its register addresses.
iris_addresses as (
    select
        bureau_key,
        iris_code,
        count(*) as address_count,
        sum(count(*)) over (partition by iris_code) as iris_address_count
    from addresses
    where bureau_key is not null and iris_code is not null
    group by bureau_key, iris_code
),

bureau_population as (
    select
        iris_addresses.bureau_key,
        count(distinct iris_addresses.iris_code) as iris_count,
        sum(iris_population.population * iris_addresses.address_count / iris_addresses.iris_address_count)
            as iris_population
    from iris_addresses
    left join iris_population on iris_addresses.iris_code = iris_population.iris_code
    group by iris_addresses.bureau_key
),

canvassing as (
    select
        bureau_codes.bureau_key,
        count(*) as doors_knocked,
        count(*) filter (where visits.is_door_opened) as doors_opened,
        count(*) filter (where visits.outcome = 'sympathisant') as outcome_supportive,
        count(*) filter (where visits.outcome = 'indecis') as outcome_undecided,
        count(*) filter (where visits.outcome = 'opposant') as outcome_opposed,
        count(*) filter (where visits.outcome = 'refus') as outcome_refused
    from visits
    inner join bureau_codes on visits.bureau_code = bureau_codes.bureau_code
    group by bureau_codes.bureau_key
),

known_supporters as (
    select
        bureau_codes.bureau_key,
        count(*) as known_supporters
    from supporters
    inner join bureau_codes on supporters.bureau_code = bureau_codes.bureau_code
    group by bureau_codes.bureau_key
),

measures as (
    select
        bureau_results.bureau_key,
        bureau_results.bureau_code,
        bureau_results.election,
        cast(bureau_results.registered_voters as bigint) as registered_voters,
        cast(bureau_results.abstentions as bigint) as abstentions,
        round(bureau_results.abstentions / nullif(bureau_results.registered_voters, 0), 4) as abstention_rate,
        round(coalesce(bureau_results.bloc_votes, 0) / nullif(bureau_results.expressed_votes, 0), 4)
            as bloc_share,
        round(
            bureau_results.abstentions * coalesce(bureau_results.bloc_votes, 0)
            / nullif(bureau_results.expressed_votes, 0),
            1
        ) as mobilisable_voters,
        cast(coalesce(bureau_population.iris_count, 0) as bigint) as iris_count,
        round(bureau_population.iris_population, 1) as iris_population,
        cast(coalesce(canvassing.doors_knocked, 0) as bigint) as doors_knocked,
        cast(coalesce(canvassing.doors_opened, 0) as bigint) as doors_opened,
        cast(coalesce(canvassing.outcome_supportive, 0) as bigint) as outcome_supportive,
        cast(coalesce(canvassing.outcome_undecided, 0) as bigint) as outcome_undecided,
        cast(coalesce(canvassing.outcome_opposed, 0) as bigint) as outcome_opposed,
        cast(coalesce(canvassing.outcome_refused, 0) as bigint) as outcome_refused,
        cast(coalesce(known_supporters.known_supporters, 0) as bigint) as known_supporters
    from bureau_results
    left join bureau_population on bureau_results.bureau_key = bureau_population.bureau_key
    left join canvassing on bureau_results.bureau_key = canvassing.bureau_key
    left join known_supporters on bureau_results.bureau_key = known_supporters.bureau_key
),

final as (
    select
        *,
        round(greatest(coalesce(mobilisable_voters, 0) - doors_knocked, 0), 1)
            as remaining_mobilisable_voters,
        cast(row_number() over (
            order by greatest(coalesce(mobilisable_voters, 0) - doors_knocked, 0) desc, bureau_key asc
        ) as bigint) as priority_rank
    from measures
)

select * from final

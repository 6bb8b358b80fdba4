-- cell_leader_candidates: at most cell_leader_top_n ranked rows per neighbourhood, ranks
-- unique within it, and a neighbourhood without candidate appears exactly once.
with candidates as (
    select * from {{ ref('cell_leader_candidates') }}
),

per_neighbourhood as (
    select
        bureau_code,
        iris_code,
        count(*) as row_count,
        count(candidate_rank) as ranked_count,
        count(distinct candidate_rank) as distinct_ranks,
        max(candidate_rank) as max_rank,
        count(*) filter (where not has_candidate) as empty_rows
    from candidates
    group by bureau_code, iris_code
)

select * from per_neighbourhood
where
    ranked_count != distinct_ranks
    or max_rank > {{ var('cell_leader_top_n') }}
    or (empty_rows > 0 and row_count != 1)

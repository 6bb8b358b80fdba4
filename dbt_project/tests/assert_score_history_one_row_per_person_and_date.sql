-- supporter_scores_history keeps one score per person and scoring date.
select
    person_key,
    as_of_date,
    count(*) as row_count
from {{ ref('supporter_scores_history') }}
group by person_key, as_of_date
having count(*) > 1

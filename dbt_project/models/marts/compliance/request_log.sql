-- The data-subject requests and how they were answered, from the ledger socle.dsr keeps
-- (no personal data there). Empty until a first request arrives. "Late" is judged against
-- the scoring date so a rerun for a past date agrees.
{%- set as_of = as_of_date() %}
with source as (
    select * from {{ landing_source('compliance_ledger', 'request_ledger') }}
),

typed as (
    select
        cast(request_id as varchar) as request_id,
        lower(cast(request_type as varchar)) as request_type,
        try_cast(received_at as timestamptz) as received_at,
        try_cast(due_at as timestamptz) as due_at,
        try_cast(done_at as timestamptz) as done_at,
        lower(cast(status as varchar)) as status,
        cast(rows_affected as varchar) as rows_affected,
        cast(note as varchar) as note
    from source
    where request_id is not null
),

final as (
    select
        request_id,
        request_type,
        status,
        received_at,
        due_at,
        done_at,
        cast(date_diff('day', received_at, done_at) as bigint) as days_to_answer,
        coalesce(
            done_at > due_at or (done_at is null and cast(due_at as date) < {{ as_of }}),
            false
        ) as is_late,
        rows_affected,
        note
    from typed
    qualify row_number() over (partition by request_id order by done_at desc nulls last) = 1
)

select * from final

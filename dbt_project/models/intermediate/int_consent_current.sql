-- Current consent per person and purpose: the latest event wins (a withdrawal beats an
-- older grant, and wins a tie). A grant is valid only with a wording version and a time;
-- an undated event is older than any dated one.
with events as (
    select * from {{ ref('int_consent_events') }}
),

latest as (
    select * from events
    where person_key is not null
    qualify row_number() over (
            partition by person_key, purpose
            order by
                occurred_at desc nulls last,
                case when status = 'withdrawn' then 0 else 1 end,
                consent_event_id desc
        ) = 1
),

final as (
    select
        person_key,
        purpose,
        status,
        lawful_basis,
        wording_version,
        consent_event_id,
        occurred_at,
        status = 'withdrawn'
        or (
            status = 'granted'
            and wording_version is not null
            and occurred_at is not null
            and lawful_basis in ('consent', 'membership')
        ) as is_valid,
        status = 'granted'
        and wording_version is not null
        and occurred_at is not null
        and lawful_basis in ('consent', 'membership') as is_granted
    from latest
)

select * from final

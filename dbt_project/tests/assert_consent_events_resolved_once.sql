-- int_consent_events (a view) in one pass rather than one generic test per column, each of
-- which would compute the identity join again: every event once, with a person, a purpose,
-- a status and a lawful basis. An event on two rows would mean its identifiers resolved to
-- two persons; one without a person would drop out of int_consent_current unseen.
with events as (
    select * from {{ ref('int_consent_events') }}
),

problems as (
    select
        count(*) > 1 as is_repeated,
        bool_or(consent_event_id is null) as has_no_id,
        bool_or(person_key is null) as has_no_person,
        bool_or(purpose is null or status is null or lawful_basis is null) as has_no_purpose_status_or_basis
    from events
    group by consent_event_id
)

select * from problems
where is_repeated or has_no_id or has_no_person or has_no_purpose_status_or_basis

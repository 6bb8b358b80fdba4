-- Identity resolution: one person per real human, linked by normalised e-mail OR phone.
--
-- Identifiers are nodes; a record carrying an e-mail and a phone is an edge between them;
-- a person is a connected component. Conflict rule: a phone seen with more than one
-- distinct e-mail (a household or office line) links nothing, because merging on it would
-- fuse different people; records carrying such a phone resolve through their e-mail, and
-- the phone is a person of its own only when some record carries it alone. Conflicts are
-- listed (hashed) in int_identity_conflicts.
-- Anchor = smallest e-mail of the component, else smallest phone; person_key = socle_hmac(anchor).
--
-- After the conflict rule every linking phone has exactly one e-mail, so a component is an
-- e-mail with its phones (a star): no e-mail reaches another. The anchor needs no graph walk
-- (a recursive CTE cost 30 s at 1 M people): an e-mail is its own anchor, a phone's is its
-- one e-mail, else itself.
-- The ~10 M records (int_person_records is a view) are read once, into their distinct
-- (e-mail, phone) combinations; everything after works on those.
-- person_id numbers the persons of this build (the e-mails, then the phones that anchor
-- themselves), in no order: int_persons groups every record on it, which costs ~20 % less
-- than grouping on the 64-character person_key (docs/benchmarks.md); numbering in order
-- would sort on one thread. It changes from build to build: never join on it across builds.
with combinations as materialized (
    select distinct
        email,
        phone
    from {{ ref('int_person_records') }}
    where email is not null or phone is not null
),

-- Materialised: the unordered numbering must be the same for the e-mails and their phones.
emails as materialized (
    select
        email,
        row_number() over () as person_id
    from combinations
    where email is not null
    group by email
),

email_persons as (
    select count(*) as person_count
    from emails
),

-- Per phone: how many distinct e-mails it was seen with, its e-mail when it has one, and
-- whether some record carries it alone.
phones as (
    select
        phone,
        count(email) as email_count,
        min(email) as email,
        bool_or(email is null) as is_seen_alone
    from combinations
    where phone is not null
    group by phone
),

phone_nodes as (
    select
        phones.phone,
        case when phones.email_count = 1 then phones.email else phones.phone end as anchor_identifier,
        case when phones.email_count = 1 then 'email' else 'phone' end as anchor_type,
        phones.email_count > 1 as is_conflicting,
        coalesce(
            emails.person_id,
            email_persons.person_count + row_number() over (partition by emails.person_id is null)
        ) as person_id
    from phones
    cross join email_persons
    left join emails on phones.email_count = 1 and phones.email = emails.email
    where phones.email_count <= 1 or phones.is_seen_alone
),

final as (
    select
        email as identifier,
        'email' as identifier_type,
        email as anchor_identifier,
        'email' as anchor_type,
        socle_hmac(email) as person_key,
        person_id,
        false as is_conflicting
    from emails
    union all
    select
        phone as identifier,
        'phone' as identifier_type,
        anchor_identifier,
        anchor_type,
        socle_hmac(anchor_identifier) as person_key,
        person_id,
        is_conflicting
    from phone_nodes
)

select * from final

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
-- build_person_number numbers the persons of this build (the e-mails, then the phones that
-- anchor themselves), in no order: int_persons groups every record on it, which costs ~20 %
-- less than grouping on the 64-character person_key (docs/benchmarks.md); numbering in order
-- would sort on one thread. It changes from build to build: never join on it across builds.
with combinations as materialized (
    select distinct
        email,
        phone
    from {{ ref('int_person_records') }}
    where email is not null or phone is not null
),

-- Materialised: the unordered numbering must be the same for the e-mails and their phones,
-- and each e-mail's key is hashed once, for itself and for the phones it anchors.
emails as materialized (
    select
        email,
        socle_hmac(email) as person_key,
        row_number() over () as build_person_number
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

-- A phone with exactly one e-mail is that e-mail's person. The others (seen with no e-mail,
-- or a conflicting phone some record carries alone) anchor themselves and are numbered after
-- the e-mails; the numbering window runs over those few only.
linked_phones as (
    select
        phones.phone,
        phones.email as anchor_identifier,
        'email' as anchor_type,
        false as is_conflicting,
        emails.person_key,
        emails.build_person_number
    from phones
    inner join emails on phones.email = emails.email
    where phones.email_count = 1
),

self_anchored_phones as (
    select
        phones.phone,
        phones.phone as anchor_identifier,
        'phone' as anchor_type,
        phones.email_count > 1 as is_conflicting,
        socle_hmac(phones.phone) as person_key,
        email_persons.person_count + row_number() over () as build_person_number
    from phones
    cross join email_persons
    where phones.email_count != 1 and phones.is_seen_alone
),

phone_nodes as (
    select * from linked_phones
    union all
    select * from self_anchored_phones
),

final as (
    select
        email as identifier,
        'email' as identifier_type,
        email as anchor_identifier,
        'email' as anchor_type,
        person_key,
        build_person_number,
        false as is_conflicting
    from emails
    union all
    select
        phone as identifier,
        'phone' as identifier_type,
        anchor_identifier,
        anchor_type,
        person_key,
        build_person_number,
        is_conflicting
    from phone_nodes
)

select * from final

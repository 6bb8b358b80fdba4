{{
    config(
        materialized='incremental',
        unique_key=['identifier', 'identifier_type'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ forget_unless_resumable() }}",
        post_hook=[
            "delete from {{ this }} where person_key is null",
            "{{ record_resume_state() }}",
        ]
    )
}}
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
-- The ~10 M records (int_person_records is a view) are read once by a full build, into their distinct
-- (e-mail, phone) combinations; everything after works on those.
-- build_person_number numbers the persons of this build (the e-mails, then the phones that
-- anchor themselves), in no order: int_persons groups every record on it, which costs ~20 %
-- less than grouping on the 64-character person_key (docs/benchmarks.md); numbering in order
-- would sort on one thread. A full build numbers anew: never join on it across builds.
{#- Incremental: a build resumes from the state the last one recorded (macros/resume_state.sql).
    An e-mail's row never changes (it anchors itself), so only the new e-mails are added,
    numbered after the last number; and each phone of a new record is computed again from
    all the records that carry it (it may have met its e-mail, or a second one). Each such
    phone also yields a row holding only its identifier, so that the delete+insert removes
    its old row even when it now belongs to nobody (a conflicting phone no record carries
    alone); the post-hook deletes those marks. A phone that anchors itself takes a new
    number. A record delivered again with the identifiers it had is one more new record
    here (macros/record_versions.sql). A build that cannot resume (a record erased, or
    delivered again with other identifiers) empties the table first (pre-hook) and
    computes every identity. #}
{%- set state = resumable_state() %}
{#- Where this build's numbers start: after the last number given, on a resumed build. #}
{%- set last_number = '(select coalesce(max(build_person_number), 0) from ' ~ this ~ ')' if state else '0' %}
with
{%- if state %}
{{ new_identifier_ctes(state) }}

known_emails as (
    select
        identifier as email,
        person_key,
        build_person_number
    from {{ this }}
    where identifier_type = 'email'
),

-- The e-mails of new records not known yet.
unknown_emails as (
    select email from new_identifiers
    where email is not null
    except
    select email from known_emails
),

{% endif %}
-- Every (e-mail, phone) pair of the records; on a resumed build, of those that carry a
-- phone of a new record.
combinations as materialized (
    select distinct
        email,
        phone
    from {{ ref('int_person_records') }}
    {%- if state %}
        where phone in (select touched_phones.phone from touched_phones)
    {%- else %}
        where email is not null or phone is not null
    {%- endif %}
),

-- The e-mails this build adds: every one, or on a resumed build the unknown ones.
-- Materialised: the unordered numbering must be the same for the e-mails and their phones,
-- and each e-mail's key is hashed once, for itself and for the phones it anchors.
new_emails as materialized (
    select
        email,
        socle_hmac(email) as person_key,
        {{ last_number }} + row_number() over () as build_person_number
    from {{ 'unknown_emails' if state else 'combinations' }}
    where email is not null
    group by email
),

emails as (
    select
        email,
        person_key,
        build_person_number
    from new_emails
    {%- if state %}
        union all
        select
            email,
            person_key,
            build_person_number
        from known_emails
    {%- endif %}
),

-- The phones that anchor themselves are numbered after the e-mails.
email_persons as (
    select {{ last_number }} + count(*) as person_count
    from new_emails
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

-- The AM07 exceptions: sqlfluff loses the columns of emails in the variant of this template where
-- known_emails is not defined.
phone_nodes as (
    select * from linked_phones  -- noqa: AM07
    union all
    select * from self_anchored_phones
),

final as (
    select  -- noqa: AM07
        email as identifier,
        'email' as identifier_type,
        email as anchor_identifier,
        'email' as anchor_type,
        person_key,
        build_person_number,
        false as is_conflicting
    from new_emails
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
),

-- On a resumed build, each phone computed again (else none).
cleared as (
    {%- if state %}
        select phone from touched_phones
    {%- else %}
        select cast(null as varchar) as phone
        where false
    {%- endif %}
)

select * from final  -- noqa: AM07
union all by name
select
    cleared.phone as identifier,
    'phone' as identifier_type
from cleared

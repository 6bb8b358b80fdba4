-- Identity resolution: one person per real human, linked by normalised e-mail OR phone.
--
-- Identifiers are nodes; a record carrying an e-mail and a phone is an edge between them;
-- a person is a connected component. Conflict rule: a phone seen with more than one
-- distinct e-mail (a household or office line) links nothing, because merging on it would
-- fuse different people; records carrying such a phone resolve through their e-mail, and
-- the phone is a person of its own only when some record carries it alone. Conflicts are
-- listed (hashed) in int_identity_conflicts.
-- Anchor = smallest e-mail of the component, else smallest phone; person_key = socle_hmac(anchor).
with recursive records as (
    select * from {{ ref('int_person_records') }}
),

pairs as (
    select distinct
        email,
        phone
    from records
    where email is not null and phone is not null
),

conflicting_phones as (
    select phone
    from pairs
    group by phone
    having count(distinct email) > 1
),

links as (
    select
        pairs.email,
        pairs.phone
    from pairs
    where pairs.phone not in (select conflicting_phones.phone from conflicting_phones)
),

nodes as (
    select distinct
        email as identifier,
        'email' as identifier_type,
        '0:' || email as node_key
    from records
    where email is not null
    union
    select distinct
        phone as identifier,
        'phone' as identifier_type,
        '1:' || phone as node_key
    from records
    where
        phone is not null
        and (email is null or phone not in (select conflicting_phones.phone from conflicting_phones))
),

-- Sort keys put every e-mail before every phone, so min() picks the anchor the contract names.
edges as (
    select
        '0:' || email as from_key,
        '1:' || phone as to_key
    from links
    union all
    select
        '1:' || phone as from_key,
        '0:' || email as to_key
    from links
),

-- Every node with every node it reaches; union (not union all) stops at the fixpoint.
walk as (
    select
        node_key,
        node_key as reached_key
    from nodes
    union
    select
        walk.node_key,
        edges.to_key as reached_key
    from walk
    inner join edges on walk.reached_key = edges.from_key
),

components as (
    select
        node_key,
        min(reached_key) as anchor_key
    from walk
    group by node_key
),

final as (
    select
        nodes.identifier,
        nodes.identifier_type,
        substr(components.anchor_key, 3) as anchor_identifier,
        case when components.anchor_key like '0:%' then 'email' else 'phone' end as anchor_type,
        socle_hmac(substr(components.anchor_key, 3)) as person_key,
        nodes.identifier in (select conflicting_phones.phone from conflicting_phones) as is_conflicting
    from nodes
    inner join components on nodes.node_key = components.node_key
)

select * from final

-- Phones shared by several e-mails: not used to link people (rule in int_identity).
-- Hashed so the list can be counted and reported without exposing the number.
with records as (
    select * from {{ ref('int_person_records') }}
),

pairs as (
    select distinct
        email,
        phone
    from records
    where email is not null and phone is not null
),

final as (
    select
        'phone' as identifier_type,
        socle_hmac(phone) as identifier_hash,
        'phone_on_several_emails' as conflict_kind,
        'not used as a link; resolved through each e-mail' as resolution,
        count(distinct email) as distinct_email_count
    from pairs
    group by phone
    having count(distinct email) > 1
)

select * from final

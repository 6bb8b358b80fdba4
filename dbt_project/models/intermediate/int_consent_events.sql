-- The consent ledger with each event attached to its person. Sign-in sheet opt-ins are
-- consent grants too, with the wording printed on the sheet (version signin-v1).
with consents as (
    select * from {{ ref('stg_crm__consents') }}
),

signins as (
    select * from {{ ref('stg_signin__attendance') }}
),

resolved as (
    select * from {{ ref('int_person_records_resolved') }}
),

from_ledger as (
    select
        consents.consent_id as consent_event_id,
        resolved.person_key,
        consents.purpose,
        consents.status,
        coalesce(consents.lawful_basis, 'consent') as lawful_basis,
        consents.wording_version,
        coalesce(consents.collected_via, 'crm') as collected_via,
        consents.occurred_at
    from consents
    inner join resolved
        on resolved.record_source = 'crm_consents' and consents.consent_id = resolved.record_id
),

signin_optins as (
    select
        attendance_id,
        'email' as purpose,
        signed_at
    from signins
    where has_optin_email
    union all
    select
        attendance_id,
        'sms' as purpose,
        signed_at
    from signins
    where has_optin_sms
),

from_signins as (
    select
        'signin:' || signin_optins.attendance_id || ':' || signin_optins.purpose as consent_event_id,
        resolved.person_key,
        signin_optins.purpose,
        'granted' as status,
        'consent' as lawful_basis,
        'signin-v1' as wording_version,
        'signin_sheet' as collected_via,
        signin_optins.signed_at as occurred_at
    from signin_optins
    inner join resolved
        on resolved.record_source = 'signin_attendance' and signin_optins.attendance_id = resolved.record_id
),

final as (
    select * from from_ledger
    union all
    select * from from_signins
)

select * from final

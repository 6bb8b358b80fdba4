{#- The consent ledger of int_consent_events from a relation of CRM consents and one of
    sign-in rows (a select statement): the staging tables, or on a resumed
    int_consent_current the affected persons' rows of them. -#}
{% macro consent_events(consents, signins) -%}
    with consents as (
        select * from {{ consents }}
        where email is not null or phone is not null
    ),

    signins as (
        select * from {{ signins }}
        where (email is not null or phone is not null) and (has_optin_email or has_optin_sms)
    ),

    from_ledger as (
        select
            consents.consent_id as consent_event_id,
            {{ resolved_person_key() }} as person_key,
            consents.purpose,
            consents.status,
            coalesce(consents.lawful_basis, 'consent') as lawful_basis,
            consents.wording_version,
            coalesce(consents.collected_via, 'crm') as collected_via,
            consents.occurred_at
        from consents
        {{ join_identity('consents') }}
    ),

    signin_people as (
        select
            signins.attendance_id,
            signins.has_optin_email,
            signins.has_optin_sms,
            signins.signed_at,
            {{ resolved_person_key() }} as person_key
        from signins
        {{ join_identity('signins') }}
    ),

    -- One row per opt-in ticked. A cross join on the two purposes rather than a union of two reads of
    -- signin_people: a CTE read twice is materialised, and at 5 M people that copy beside the two
    -- identity hash tables ran out of DuckDB's 3 GB (docs/benchmarks.md).
    signin_optins as (
        select
            signin_people.attendance_id,
            signin_people.person_key,
            purposes.purpose,
            signin_people.signed_at
        from signin_people
        cross join (values ('email'), ('sms')) as purposes (purpose)
        where
            (purposes.purpose = 'email' and signin_people.has_optin_email)
            or (purposes.purpose = 'sms' and signin_people.has_optin_sms)
    ),

    from_signins as (
        select
            'signin:' || attendance_id || ':' || purpose as consent_event_id,
            person_key,
            purpose,
            'granted' as status,
            'consent' as lawful_basis,
            'signin-v1' as wording_version,
            'signin_sheet' as collected_via,
            signed_at as occurred_at
        from signin_optins
    ),

    final as (
        select * from from_ledger
        union all
        select * from from_signins
    )

    select * from final
{%- endmacro %}

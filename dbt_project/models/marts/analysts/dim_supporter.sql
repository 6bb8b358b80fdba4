-- One row per person, pseudonymised: where they are, how they may be contacted, how engaged.
-- No names, e-mails, phones, street addresses, raw handles or birth dates. The tier is
-- present only for people who may be scored (see supporter_scores).
with persons as (
    select * from {{ ref('int_persons') }}
),

consents as (
    select * from {{ ref('int_consent_current') }}
),

scores as (
    select * from {{ ref('supporter_scores') }}
),

engagement as (
    select * from {{ ref('fct_engagement') }}
),

consent_flags as (
    select
        person_key,
        bool_or(purpose = 'email' and is_granted) as has_consent_email,
        bool_or(purpose = 'sms' and is_granted) as has_consent_sms,
        bool_or(purpose = 'phone' and is_granted) as has_consent_phone,
        bool_or(purpose = 'canvassing' and is_granted) as has_consent_canvassing,
        bool_or(purpose = 'profiling' and is_granted) as has_consent_profiling,
        bool_or(purpose = 'social_matching' and is_granted) as has_consent_social_matching
    from consents
    group by person_key
),

last_actions as (
    select
        person_key,
        max(event_at) as last_action_at
    from engagement
    group by person_key
),

final as (
    select
        persons.person_key,
        scores.tier,
        persons.commune_code,
        persons.iris_code,
        persons.bureau_code,
        case
            when persons.age is null then 'unknown'
            when persons.age < {{ var('adult_age') }} then 'under_18'
            when persons.age < 25 then '18_24'
            when persons.age < 35 then '25_34'
            when persons.age < 50 then '35_49'
            when persons.age < 65 then '50_64'
            else '65_plus'
        end as age_band,
        persons.acquisition_source,
        persons.is_member,
        persons.leads_cell,
        coalesce(consent_flags.has_consent_email, false) as has_consent_email,
        coalesce(consent_flags.has_consent_sms, false) as has_consent_sms,
        coalesce(consent_flags.has_consent_phone, false) as has_consent_phone,
        coalesce(consent_flags.has_consent_canvassing, false) as has_consent_canvassing,
        coalesce(consent_flags.has_consent_profiling, false) as has_consent_profiling,
        coalesce(consent_flags.has_consent_social_matching, false) as has_consent_social_matching,
        persons.is_objector,
        persons.first_seen_at,
        greatest(persons.last_seen_at, last_actions.last_action_at) as last_activity_at
    from persons
    left join consent_flags on persons.person_key = consent_flags.person_key
    left join scores on persons.person_key = scores.person_key
    left join last_actions on persons.person_key = last_actions.person_key
)

select * from final

{{ config(materialized='view') }}
-- A view: materialising ~10 M records x 25 columns cost more (20-40 s at 1 M people) than
-- the joins it saves; readers take only the columns they need.
-- Every record that carries a person's identifiers, with the attributes it gives.
-- source_priority orders attribute sources: CRM (1) > events (2) > sign-in (3) > others.
with crm_people as (
    select * from {{ ref('stg_crm__people') }}
),

crm_consents as (
    select * from {{ ref('stg_crm__consents') }}
),

rsvps as (
    select * from {{ ref('stg_events__rsvps') }}
),

signins as (
    select * from {{ ref('stg_signin__attendance') }}
),

-- Read more than once: not materialized, so DuckDB scans the table again rather than copy it.
visits as not materialized (
    select * from {{ ref('stg_canvass__visits') }}
),

from_crm as (
    select
        'crm_people' as record_source,
        crm_id as record_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date,
        address,
        postal_code,
        city,
        commune_code,
        iris_code,
        bureau_code,
        facebook_id,
        x_handle,
        x_user_id,
        acquisition_source,
        support_level,
        is_member,
        leads_cell,
        1 as source_priority,
        coalesce(updated_at, created_at, loaded_at) as observed_at,
        coalesce(created_at, updated_at, loaded_at) as first_observed_at,
        loaded_at
    from crm_people
),

from_rsvps as (
    select
        'events_rsvps' as record_source,
        rsvp_id as record_id,
        email,
        phone,
        first_name,
        last_name,
        2 as source_priority,
        coalesce(updated_at, loaded_at) as observed_at,
        coalesce(updated_at, loaded_at) as first_observed_at,
        loaded_at
    from rsvps
),

from_signins as (
    select
        'signin_attendance' as record_source,
        attendance_id as record_id,
        email,
        phone,
        first_name,
        last_name,
        postal_code,
        3 as source_priority,
        coalesce(signed_at, loaded_at) as observed_at,
        coalesce(signed_at, loaded_at) as first_observed_at,
        loaded_at
    from signins
),

-- A resident becomes a person only when they agreed to be contacted.
from_canvass_contacts as (
    select
        'canvass_contacts' as record_source,
        visit_id as record_id,
        contact_email as email,
        contact_phone as phone,
        bureau_code,
        4 as source_priority,
        coalesce(cast(session_date as timestamptz), loaded_at) as observed_at,
        coalesce(cast(session_date as timestamptz), loaded_at) as first_observed_at,
        loaded_at
    from visits
    where has_consent_contact
),

from_canvass_volunteers as (
    select
        'canvass_volunteers' as record_source,
        visit_id as record_id,
        volunteer_email as email,
        5 as source_priority,
        coalesce(cast(session_date as timestamptz), loaded_at) as observed_at,
        coalesce(cast(session_date as timestamptz), loaded_at) as first_observed_at,
        loaded_at
    from visits
),

from_consents as (
    select
        'crm_consents' as record_source,
        consent_id as record_id,
        email,
        phone,
        6 as source_priority,
        coalesce(occurred_at, loaded_at) as observed_at,
        coalesce(occurred_at, loaded_at) as first_observed_at,
        loaded_at
    from crm_consents
),

unioned as (
    select * from from_crm
    union all by name
    select * from from_rsvps
    union all by name
    select * from from_signins
    union all by name
    select * from from_canvass_contacts
    union all by name
    select * from from_canvass_volunteers
    union all by name
    select * from from_consents
),

final as (
    select
        record_source,
        record_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date,
        address,
        postal_code,
        city,
        commune_code,
        iris_code,
        bureau_code,
        facebook_id,
        x_handle,
        x_user_id,
        acquisition_source,
        support_level,
        is_member,
        leads_cell,
        source_priority,
        observed_at,
        first_observed_at,
        loaded_at
    from unioned
    where email is not null or phone is not null
)

select * from final

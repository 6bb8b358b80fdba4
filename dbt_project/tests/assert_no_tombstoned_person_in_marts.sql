-- GDPR rule 2 inside dbt: no person_key in a mart or list equals an erased identifier's hash
-- (a person_key is the hash of the person's anchor identifier).
with tombstones as (
    select identifier_hash from {{ ref('stg_compliance__tombstones') }}
),

person_keys as (
    select person_key, 'dim_supporter' as relation_name from {{ ref('dim_supporter') }}
    union all
    select person_key, 'fct_engagement' as relation_name from {{ ref('fct_engagement') }}
    union all
    select person_key, 'supporter_scores_history' as relation_name from {{ ref('supporter_scores_history') }}
    union all
    select person_key, 'contact_list_email' as relation_name from {{ ref('contact_list_email') }}
    union all
    select person_key, 'contact_list_sms' as relation_name from {{ ref('contact_list_sms') }}
    union all
    select person_key, 'consent_state_history' as relation_name from {{ ref('consent_state_history') }}
)

select
    person_keys.relation_name,
    count(*) as erased_rows
from person_keys
inner join tombstones on person_keys.person_key = tombstones.identifier_hash
group by person_keys.relation_name

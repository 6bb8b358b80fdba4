{{ config(materialized='view') }}
-- The consent ledger with each event attached to its person. Sign-in sheet opt-ins are
-- consent grants too, with the wording printed on the sheet (version signin-v1).
-- Records carrying neither an e-mail nor a phone belong to nobody, as in int_person_records.
-- A view: int_consent_current, its only reader, computes it once a build, and writing it as a
-- table cost 1.4-2.3 s of the pair's 4.2-5.2 s at 1 M people (docs/benchmarks.md).
{{ consent_events(ref('stg_crm__consents'), ref('stg_signin__attendance')) }}

-- Who may receive campaign SMS: a current valid SMS opt-in, an adult, no objection.
-- Erased people never reach here (tombstones filter staging); checked again below.
{{ contact_list('sms', 'phone') }}

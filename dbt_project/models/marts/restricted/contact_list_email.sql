-- Who may receive campaign e-mails: a current valid e-mail opt-in, an adult, no objection.
-- Erased people never reach here (tombstones filter staging); checked again below.
{{ contact_list('email', 'email') }}

-- 0024 consent and retention (the seeds' GDPR migration): per contact, whether and how consent was obtained and whether it was
-- withdrawn, and whether they live in the EU; per org, how long prospects' data is kept (730 days, 365 for EU residents) and
-- whether the privacy-retention job deletes what is past its date. A contact's deletion date is derived, never stored: their
-- last activity (or, with none, when they were added) plus the period that applies to them; a withdrawn consent makes them due
-- at once. (Not their updated_at: a re-encryption or a backfill must not restart the clock.)
ALTER TABLE contacts
    ADD COLUMN consent_obtained     boolean NOT NULL DEFAULT false,
    ADD COLUMN consent_at           timestamptz,
    ADD COLUMN consent_source       text CHECK (consent_source IN ('csv_upload', 'crm_sync', 'manual', 'meeting')),
    ADD COLUMN consent_withdrawn_at timestamptz,
    ADD COLUMN eu_resident          boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT contacts_consent_has_date CHECK (NOT consent_obtained OR consent_at IS NOT NULL);

ALTER TABLE org_settings
    ADD COLUMN retention_days    integer NOT NULL DEFAULT 730 CHECK (retention_days BETWEEN 30 AND 3650),
    ADD COLUMN eu_retention_days integer NOT NULL DEFAULT 365 CHECK (eu_retention_days BETWEEN 30 AND 3650),
    ADD COLUMN auto_delete       boolean NOT NULL DEFAULT false;

-- A transcript removed because the only outside person in it was deleted: the meeting stays, and says why its transcript is gone.
ALTER TABLE meetings ADD COLUMN transcript_removed_at timestamptz;

-- Conversations nobody wrote in for a year are archived (never continued, kept out of exports), and deleted after the org's period.
ALTER TABLE copilot_conversations ADD COLUMN archived_at timestamptz;
CREATE INDEX copilot_conversations_last_message ON copilot_conversations (last_message_at);

-- Each contact's last activity and deletion date under its org's policy, read by the privacy-retention job (as the system) and by
-- the admin site (under row-level security: security_invoker).
CREATE VIEW contact_retention WITH (security_invoker = true) AS
SELECT c.org_id, c.id AS contact_id, last.at AS last_activity_at,
       CASE WHEN c.consent_withdrawn_at IS NOT NULL THEN c.consent_withdrawn_at
            ELSE last.at + make_interval(days => CASE WHEN c.eu_resident THEN s.eu_retention_days ELSE s.retention_days END) END AS deletion_due_at
FROM contacts c
JOIN org_settings s ON s.org_id = c.org_id
CROSS JOIN LATERAL (SELECT coalesce((SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id), c.created_at) AS at) last;

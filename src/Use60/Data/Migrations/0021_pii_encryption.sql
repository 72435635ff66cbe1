-- 0021 PII encryption at rest. Each org gets random keys (org_keys), wrapped by the master key (USE60_MASTER_KEY); contacts' email,
-- phone and LinkedIn URL are stored sealed with the org's data key (AES-256-GCM), the email also as a blind index (HMAC-SHA256
-- with the org's index key) so a contact is found by email without decrypting rows; calendar events keep the same hash of each
-- attendee, so a brief matches attendees to contacts inside one statement.
--
-- SQL cannot encrypt without the key, so the plaintext columns are renamed unsealed_* and the app's start-up pass
-- (Privacy/PiiMaintenance.SealPassAsync, run by every app start before it serves, and by rotate-master-key) seals them and sets
-- them to NULL, in batches. Nothing in the app reads or writes unsealed_* otherwise; a later migration drops them.

-- Wrapped keys: id 0 is the org's blind-index key, 1.. its data keys (the highest seals; older ones open what they sealed until
-- reencrypt has moved it, and are then marked retired). master_key_id names the master key that wrapped the row, so a
-- rotation that stopped half-way leaves no doubt which key opens which row.
CREATE TABLE org_keys (
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id            integer NOT NULL CHECK (id >= 0),
    purpose       text NOT NULL CHECK (purpose IN ('index', 'data') AND (purpose = 'index') = (id = 0)),
    wrapped       bytea NOT NULL,
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL,
    retired_at    timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX org_keys_master_key ON org_keys (master_key_id);

-- Only the system path reads or writes keys. The app's own role (what serves requests) gets a policy that matches no row, so
-- it sees none, not even its own org's, and can write none.
ALTER TABLE org_keys ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY org_keys_system ON org_keys TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY org_keys_tenant_none ON org_keys FOR ALL USING (false) WITH CHECK (false);

ALTER TABLE contacts RENAME COLUMN email TO unsealed_email;
ALTER TABLE contacts RENAME COLUMN phone TO unsealed_phone;
ALTER TABLE contacts RENAME COLUMN linkedin_url TO unsealed_linkedin_url;
ALTER TABLE contacts
    ADD COLUMN email_sealed        bytea,
    ADD COLUMN email_hash          text,
    ADD COLUMN phone_sealed        bytea,
    ADD COLUMN linkedin_url_sealed bytea,
    ADD COLUMN pii_key_id          integer;
CREATE INDEX contacts_email_hash ON contacts (org_id, email_hash) WHERE email_hash IS NOT NULL;
-- reencrypt's batches: an org's rows not yet under its newest data key.
CREATE INDEX contacts_pii_key ON contacts (org_id, pii_key_id, id);
CREATE INDEX contacts_unsealed ON contacts (id)
    WHERE unsealed_email IS NOT NULL OR unsealed_phone IS NOT NULL OR unsealed_linkedin_url IS NOT NULL;

-- NULL: not hashed yet (the start-up pass fills it); the app sets it on every save of an event.
ALTER TABLE calendar_events ADD COLUMN attendee_email_hashes text[];
CREATE INDEX calendar_events_unhashed ON calendar_events (id) WHERE attendee_email_hashes IS NULL;

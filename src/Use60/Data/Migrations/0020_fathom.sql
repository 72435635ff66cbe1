-- 0020 fathom: Fathom, the seeds' other recording source. With FATHOM_API_KEY set, Fathom's recordings arrive by webhook
-- (POST /webhooks/fathom) or by the fathom-pull job, and land through the same transcript step as the notetaker's, on a
-- meeting with source_type 'fathom', source_ref the Fathom recording id and video_url Fathom's own link to the recording.

-- Fathom keeps the video; the meeting keeps Fathom's link to it (a notetaker meeting's media stays on its recording).
ALTER TABLE meetings ADD COLUMN video_url text CHECK (video_url IS NULL OR video_url ~ '^https?://');

-- Fathom's webhooks go through the same inbox as the other providers'.
ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_provider_check,
    ADD CONSTRAINT webhook_inbox_provider_check CHECK (provider IN ('meetingbaas', 'gladia', 'fathom'));

-- Every Fathom recording seen, by webhook or pull, once (its Fathom id is the key): where it landed, or why it has not. A
-- recording whose recorder is no use60 user (no user's email, or the email of users in several orgs) is kept here with its
-- payload as 'unmatched', not dropped; each pull tries those again, so it lands once the rep is added. org_id and user_id
-- are the rep it landed for (null until then).
CREATE TABLE fathom_recordings (
    recording_id  text PRIMARY KEY CHECK (length(recording_id) BETWEEN 1 AND 100),
    org_id        uuid REFERENCES orgs (id) ON DELETE CASCADE,
    user_id       uuid,
    meeting_id    uuid,
    status        text NOT NULL CHECK (status IN ('landed', 'unmatched')),
    recorded_by   text,                       -- the recorder's email as Fathom gave it
    payload       jsonb CHECK (payload IS NULL OR jsonb_typeof(payload) = 'object'),  -- kept only while unmatched
    via           text NOT NULL CHECK (via IN ('webhook', 'pull')),
    fathom_created_at timestamptz,
    first_seen_at timestamptz NOT NULL,
    landed_at     timestamptz,
    CHECK ((status = 'landed') = (org_id IS NOT NULL AND user_id IS NOT NULL AND meeting_id IS NOT NULL)),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, meeting_id) REFERENCES meetings (org_id, id) ON DELETE CASCADE
);
CREATE INDEX fathom_recordings_unmatched ON fathom_recordings (first_seen_at) WHERE status = 'unmatched';

-- Written only by the system path (the webhook and the pull work across orgs); an org's owners and admins may read theirs.
ALTER TABLE fathom_recordings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY fathom_recordings_system ON fathom_recordings TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY fathom_recordings_admin_read ON fathom_recordings FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- The pull's high-water mark: the newest Fathom created_at it has taken in, for the whole deployment (one API key). It
-- only moves once a run has paged through everything after it, so a run that fails part-way is done again, not skipped.
CREATE TABLE fathom_sync (
    id            integer PRIMARY KEY CHECK (id = 1),
    created_after timestamptz,
    last_run_at   timestamptz,
    last_error    text
);
ALTER TABLE fathom_sync ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY fathom_sync_system ON fathom_sync TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));

-- 0014 recordings: the notetaker. Each org's notetaker settings, a rep's own auto-join choice, a meeting's "don't record"
-- flag, one row per notetaker bot (with the consent it was sent under, its state at MeetingBaaS, the provider's media links
-- and the state of their copy into the recording store), and the inbox of MeetingBaaS webhooks.

-- Org policy. Auto-join is off until an owner or admin turns it on: recording is something an org decides. The bot's name
-- says that it records, and the notice it posts in the meeting chat says how to object.
ALTER TABLE org_settings
    ADD COLUMN notetaker_auto_join       boolean NOT NULL DEFAULT false,
    ADD COLUMN notetaker_bot_name        text NOT NULL DEFAULT 'use60 Notetaker (recording)'
        CHECK (length(btrim(notetaker_bot_name)) BETWEEN 3 AND 100),
    ADD COLUMN notetaker_chat_notice     text NOT NULL DEFAULT
        'Hi everyone: this meeting is being recorded and transcribed by use60 Notetaker so that the host has accurate notes. '
        'If you would rather not be recorded, say so in the chat or ask the host to remove me, and I will leave.'
        CHECK (length(btrim(notetaker_chat_notice)) BETWEEN 10 AND 500),
    -- External domains whose people are never recorded: a meeting with anyone from one of them gets no bot.
    ADD COLUMN notetaker_blocked_domains text[] NOT NULL DEFAULT '{}';

-- A rep's own auto-join choice; null follows the org's default.
ALTER TABLE user_preferences ADD COLUMN notetaker_auto_join boolean;

-- The rep said "Don't record" for this meeting (the brief's button): it never gets a bot.
ALTER TABLE calendar_events ADD COLUMN do_not_record boolean NOT NULL DEFAULT false;

-- One notetaker bot. A calendar meeting has at most one live bot (scheduled, joining, joined, completed or failed: any row
-- not cancelled), whatever replicas or repeated runs do: the unique index below, claimed with INSERT … ON CONFLICT DO
-- NOTHING. A meeting link has at most one bot on its way or in the call per org, so two reps invited to the same call do not
-- send two. meeting_key is the link without its query (host and path, lower case).
CREATE TABLE recordings (
    id                       uuid PRIMARY KEY,
    org_id                   uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id                  uuid NOT NULL,
    calendar_event_id        uuid,
    source                   text NOT NULL CHECK (source IN ('calendar', 'command')),
    title                    text,
    meeting_url              text NOT NULL CHECK (meeting_url ~ '^https?://'),
    meeting_key              text NOT NULL,
    platform                 text NOT NULL CHECK (platform IN ('zoom', 'meet', 'teams')),
    bot_id                   text UNIQUE,
    bot_name                 text NOT NULL,
    chat_notice              text NOT NULL,
    status                   text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'joining', 'joined', 'completed', 'failed', 'cancelled')),
    -- Why the bot may record: the org's auto-join policy, or the rep's own choice (their auto-join, or /sixty record).
    consent_basis            text NOT NULL CHECK (consent_basis IN ('org_policy', 'rep_choice')),
    consent_recorded_at      timestamptz NOT NULL,
    -- When the bot joins (null: at once).
    join_at                  timestamptz,
    deploy_attempts          integer NOT NULL DEFAULT 0,
    deploy_lease_until       timestamptz,
    joined_at                timestamptz,
    completed_at             timestamptz,
    cancelled_reason         text,
    failure_reason           text,
    failure_notified_at      timestamptz,
    -- The provider's media links, valid for 4 hours from when they arrived.
    video_source_url         text,
    audio_source_url         text,
    source_urls_received_at  timestamptz,
    -- The copy into the recording store.
    s3_upload_status         text NOT NULL DEFAULT 'none' CHECK (s3_upload_status IN ('none', 'pending', 'uploading', 'complete', 'failed')),
    upload_attempts          integer NOT NULL DEFAULT 0,
    next_upload_at           timestamptz,
    upload_error             text,
    video_key                text,
    audio_key                text,
    video_bytes              bigint CHECK (video_bytes >= 0),
    audio_bytes              bigint CHECK (audio_bytes >= 0),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, calendar_event_id) REFERENCES calendar_events (org_id, id) ON DELETE SET NULL (calendar_event_id)
);
CREATE UNIQUE INDEX recordings_one_bot_per_event ON recordings (org_id, calendar_event_id)
    WHERE calendar_event_id IS NOT NULL AND status <> 'cancelled';
CREATE UNIQUE INDEX recordings_one_bot_per_link ON recordings (org_id, meeting_key) WHERE status IN ('scheduled', 'joining', 'joined');
CREATE INDEX recordings_owner_created ON recordings (org_id, user_id, created_at DESC);
CREATE INDEX recordings_to_deploy ON recordings (created_at) WHERE status = 'scheduled' AND bot_id IS NULL;
CREATE INDEX recordings_upload_queue ON recordings (next_upload_at) WHERE s3_upload_status IN ('pending', 'uploading');

ALTER TABLE recordings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY recordings_system ON recordings TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
-- The rep whose meeting it is; owners and admins see their org's recordings (consent, state, storage), never another org's.
CREATE POLICY recordings_owner ON recordings FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY recordings_admin_read ON recordings FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- Owners and admins set each rep's notetaker choice on the admin site (the rest of a rep's preferences stay theirs to change).
CREATE POLICY user_preferences_admin_read ON user_preferences FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY user_preferences_admin_insert ON user_preferences FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY user_preferences_admin_update ON user_preferences FOR UPDATE
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()));

-- Webhooks from providers (MeetingBaaS), written here once their signature is checked and before anything is done with them.
-- delivery_id is the provider's id of the message, the same on each retry: a second delivery finds its row and is not
-- processed again. No tenant policy: only the system path reads or writes it.
CREATE TABLE webhook_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider     text NOT NULL CHECK (provider IN ('meetingbaas')),
    delivery_id  text NOT NULL,
    event        text NOT NULL,
    payload      jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    received_at  timestamptz NOT NULL,
    deliveries   integer NOT NULL DEFAULT 1,
    attempts     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    processed_at timestamptz,
    outcome      text CHECK (outcome IN ('handled', 'ignored', 'failed')),
    error        text,
    UNIQUE (provider, delivery_id)
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_at) WHERE processed_at IS NULL;

ALTER TABLE webhook_inbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_inbox_system ON webhook_inbox TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));

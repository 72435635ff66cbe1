-- 0023 transcription retries: a Gladia transcription that could not be asked for (Gladia down, rate-limited) is asked for
-- again later, and one whose callback never came is looked up, by the transcription-retries job. transcription_check_at says
-- when the recording's transcription is next looked at (null: nothing to do); transcription_attempts counts the requests made.
ALTER TABLE recordings
    ADD COLUMN transcription_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN transcription_check_at timestamptz;
CREATE INDEX recordings_transcription_check ON recordings (transcription_check_at) WHERE transcription_check_at IS NOT NULL;

-- Old webhook deliveries and Slack callbacks are deleted by the inbox-cleanup job; these find them.
CREATE INDEX webhook_inbox_received ON webhook_inbox (received_at);
CREATE INDEX slack_inbox_received ON slack_inbox (received_at);

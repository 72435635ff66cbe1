-- 0017 transcription: how a recording gets its transcript, and the link between a recording and its meeting.
-- MeetingBaaS transcribes a bot's meeting itself (its bot.completed webhook carries a link to the transcript); with
-- GLADIA_API_KEY set, use60 asks Gladia to transcribe the stored audio instead, and Gladia calls /webhooks/gladia back with
-- the job id recorded here. Whichever of the transcript and the copy into the store comes first, the meeting and the
-- recording end up linked both ways; the media keys stay on the recording (links are signed per request).

-- meetings (org_id, id) is what a tenant-safe foreign key from recordings names.
ALTER TABLE meetings ADD CONSTRAINT meetings_org_id_id_key UNIQUE (org_id, id);

ALTER TABLE recordings
    ADD COLUMN transcription_provider     text CHECK (transcription_provider IN ('meetingbaas', 'gladia')),
    -- The provider's job id (Gladia's pre-recorded job): its callback is matched to the recording by it.
    ADD COLUMN transcription_job_id       text UNIQUE,
    ADD COLUMN transcription_requested_at timestamptz,
    ADD COLUMN transcription_error        text,
    -- The meeting its transcript landed on.
    ADD COLUMN transcript_meeting_id      uuid,
    ADD FOREIGN KEY (org_id, transcript_meeting_id) REFERENCES meetings (org_id, id) ON DELETE SET NULL (transcript_meeting_id);

-- The recording of a notetaker meeting (one meeting per recording).
ALTER TABLE meetings
    ADD COLUMN recording_id uuid,
    ADD FOREIGN KEY (org_id, recording_id) REFERENCES recordings (org_id, id) ON DELETE SET NULL (recording_id);
CREATE UNIQUE INDEX meetings_recording ON meetings (recording_id) WHERE recording_id IS NOT NULL;

-- Gladia's callbacks go through the same inbox as MeetingBaaS's webhooks.
ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_provider_check,
    ADD CONSTRAINT webhook_inbox_provider_check CHECK (provider IN ('meetingbaas', 'gladia'));

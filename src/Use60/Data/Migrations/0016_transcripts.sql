-- 0016 transcripts: what was said in a recorded meeting, whoever transcribed it (MeetingBaaS, Gladia, Fathom), kept on
-- the meeting and searchable by the copilot through the same row-level security as every read.
ALTER TABLE meetings
    ADD COLUMN transcript          jsonb CHECK (transcript IS NULL OR jsonb_typeof(transcript) = 'array'),  -- [{speaker, start, end, text}]
    ADD COLUMN transcript_provider text CHECK (transcript_provider IN ('meetingbaas', 'gladia', 'fathom')),
    ADD COLUMN transcript_at       timestamptz,
    -- The recording's id at its source (a notetaker bot, a Fathom recording): one meeting each, however often it arrives.
    ADD COLUMN source_ref          text,
    ADD COLUMN search              tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', coalesce(summary, '')), 'B')
        || to_tsvector('english', coalesce(transcript_text, ''))) STORED;

CREATE UNIQUE INDEX meetings_source_ref ON meetings (org_id, source_type, source_ref) WHERE source_ref IS NOT NULL;
CREATE INDEX meetings_search ON meetings USING gin (search);

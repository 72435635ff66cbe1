-- 0018 thumbnails: one JPEG per kept video, stored next to it (meeting-recordings/{org}/{user}/{recording}/thumbnail.jpg).
-- Made once the copy into the store is complete; a thumbnail that could not be made never fails the recording: why is kept
-- in thumbnail_error for the admin site and the logs (never a signed link).
ALTER TABLE recordings
    ADD COLUMN thumbnail_key   text,
    ADD COLUMN thumbnail_error text,
    ADD CONSTRAINT recordings_thumbnail_key_or_error CHECK (thumbnail_key IS NULL OR thumbnail_error IS NULL);

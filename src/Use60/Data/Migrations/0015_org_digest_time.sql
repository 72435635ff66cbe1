-- 0015 org digest time: the org's default hour for the daily summary (and the morning task reminder and first stall
-- alerts, which follow it). A rep's own choice in /sixty settings wins; a rep who never chose follows the org.
ALTER TABLE org_settings ADD COLUMN default_digest_time time NOT NULL DEFAULT '09:00'
    CHECK (default_digest_time BETWEEN '06:00' AND '12:00');

ALTER TABLE user_preferences ALTER COLUMN digest_time DROP NOT NULL, ALTER COLUMN digest_time DROP DEFAULT;

-- 9:00 was everyone's default and is the org's default now: those reps follow the org from here on.
SELECT set_config('app.system', 'on', true);
UPDATE user_preferences SET digest_time = NULL WHERE digest_time = '09:00';
SELECT set_config('app.system', 'off', true);

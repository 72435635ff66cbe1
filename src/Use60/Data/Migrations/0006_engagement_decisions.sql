-- 0006 engagement decisions: a preview started from a proactive message (Draft follow-up, Mark lost) remembers that
-- message, so the rep's Confirm or Cancel on it counts as engagement with it.

ALTER TABLE pending_actions ADD COLUMN proactive_delivery_id bigint REFERENCES proactive_deliveries (id) ON DELETE SET NULL;

ALTER TABLE proactive_engagement DROP CONSTRAINT proactive_engagement_kind_check;
ALTER TABLE proactive_engagement ADD CONSTRAINT proactive_engagement_kind_check CHECK (kind IN ('click', 'dismiss', 'confirm'));

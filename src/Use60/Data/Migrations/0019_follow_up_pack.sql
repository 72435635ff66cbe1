-- 0019 follow-up pack: when a recorded meeting's transcript lands, the rep gets one follow-up pack for it (claimed here).
ALTER TABLE proactive_deliveries DROP CONSTRAINT proactive_deliveries_workflow_check;
ALTER TABLE proactive_deliveries ADD CONSTRAINT proactive_deliveries_workflow_check
    CHECK (workflow IN ('daily_digest', 'meeting_brief', 'task_reminder', 'deal_stall', 'win_loss', 'follow_up_pack'));

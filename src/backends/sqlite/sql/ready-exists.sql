-- Is any job runnable now in one of these queues? (wake-up check, read only)
-- Params: :queues (JSON array of names) :now
-- Returns: ready = 0|1
SELECT EXISTS (
  SELECT 1 FROM jobs
  WHERE state = 'queued' AND queue IN (SELECT value FROM json_each(:queues)) AND run_at <= :now
) AS ready

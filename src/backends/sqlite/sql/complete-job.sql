-- Record success, fenced by (id, attempt, worker).
-- Params: :id :attempt :workerId :result (JSON text or NULL) :now
-- Returns: changes = 1 when recorded
UPDATE jobs
SET state = 'completed', result = :result, finished_at = :now, updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id = :workerId

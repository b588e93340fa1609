-- A running job to failed (attempts exhausted, final error, release or rescue of the last attempt).
-- Params: :id :attempt :workerId :errors (JSON text) :lastError :now
-- Returns: changes = 1 when done
UPDATE jobs
SET state = 'failed', errors = :errors, last_error = :lastError, finished_at = :now, updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id IS :workerId

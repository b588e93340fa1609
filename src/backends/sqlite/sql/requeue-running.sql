-- A running job back to queued (retry, release, rescue, reset), fenced by attempt and worker.
-- Params: :id :attempt :workerId :runAt :errors (JSON text) :lastError :now
-- Returns: changes = 1 when done
UPDATE jobs
SET state = 'queued', run_at = :runAt, errors = :errors, last_error = :lastError, updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id IS :workerId

-- A finished job back to queued now; resetAttempts = 1 zeroes attempts, else a job with no
-- attempts left gets one more.
-- Params: :id :resetAttempts (0|1) :now
-- Returns: changes = 1 when done
UPDATE jobs
SET state = 'queued', run_at = :now, updated_at = :now, finished_at = NULL, worker_id = NULL, lease_expires_at = NULL,
    attempts = CASE WHEN :resetAttempts = 1 THEN 0 ELSE attempts END,
    max_attempts = CASE WHEN :resetAttempts = 0 AND attempts >= max_attempts THEN attempts + 1 ELSE max_attempts END
WHERE id = :id AND state IN ('completed', 'failed', 'cancelled')

-- Cancel an unfinished job; a running job's holder loses its claim (fencing fails).
-- Params: :id :now
-- Returns: changes = 1 when done
UPDATE jobs
SET state = 'cancelled', finished_at = :now, updated_at = :now, worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND state IN ('queued', 'running')

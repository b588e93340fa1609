-- A claimed job that never started back to queued (release with notStarted), fenced by attempt
-- and worker: the attempt is given back and run_at is kept, so it keeps its place.
-- Params: :id :attempt :workerId :now
-- Returns: changes = 1 when done
UPDATE jobs
SET state = 'queued', attempts = attempts - 1, started_at = NULL, updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id IS :workerId

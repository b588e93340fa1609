-- The unfinished job holding a unique key.
-- Params: :uniqueKey
-- Returns: the job row, or none
SELECT CAST(id AS TEXT) AS id, queue, name, CAST(payload AS BLOB) AS payload, priority, state, attempts, max_attempts, run_at, timeout_ms,
       unique_key, worker_id, lease_expires_at, last_error, errors, result, progress,
       created_at, started_at, finished_at, updated_at
FROM jobs
WHERE unique_key = :uniqueKey AND state IN ('queued', 'running')

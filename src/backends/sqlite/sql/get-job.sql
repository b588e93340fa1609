-- One job by id.
-- Params: :id (bigint)
-- Returns: the job row (columns as in rows.ts JobRow)
SELECT CAST(id AS TEXT) AS id, queue, name, CAST(payload AS BLOB) AS payload, priority, state, attempts, max_attempts, run_at, timeout_ms,
       unique_key, worker_id, lease_expires_at, last_error, errors, result, progress,
       created_at, started_at, finished_at, updated_at
FROM jobs
WHERE id = :id

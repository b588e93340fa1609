-- Claim up to :limit runnable jobs of one queue in claim order (priority, run_at, id).
-- Runs inside BEGIN IMMEDIATE; RETURNING order is unspecified (claim.ts sorts).
-- Params: :queue :limit :workerId :leaseUntil :now
-- Returns: the claimed job rows (attempts already incremented)
UPDATE jobs
SET state = 'running', attempts = attempts + 1, worker_id = :workerId, lease_expires_at = :leaseUntil,
    started_at = :now, updated_at = :now
WHERE id IN (
  SELECT id FROM jobs
  WHERE state = 'queued' AND queue = :queue AND run_at <= :now
  ORDER BY priority, run_at, id
  LIMIT :limit
)
RETURNING CAST(id AS TEXT) AS id, queue, name, CAST(payload AS BLOB) AS payload, priority, state, attempts, max_attempts, run_at, timeout_ms,
          unique_key, worker_id, lease_expires_at, last_error, errors, result, progress,
          created_at, started_at, finished_at, updated_at

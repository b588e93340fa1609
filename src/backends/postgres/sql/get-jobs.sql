-- Jobs by id.
-- Params: $1 ids bigint[]
-- Returns: job rows (job columns, see rows.ts) in id order
SELECT j.id::text AS id, j.queue, j.name, j.payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at,
          j.timeout_ms, j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
          j.created_at, j.started_at, j.finished_at, j.updated_at, now() AS now
FROM __SCHEMA__.jobs j
WHERE j.id = ANY($1::bigint[])
ORDER BY j.id

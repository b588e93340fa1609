-- The unfinished jobs holding these unique keys.
-- Params: $1 unique keys text[]
-- Returns: job rows (job columns, see rows.ts)
SELECT j.id::text AS id, j.queue, j.name, j.payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at,
          j.timeout_ms, j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
          j.created_at, j.started_at, j.finished_at, j.updated_at, now() AS now
FROM __SCHEMA__.jobs j
WHERE j.unique_key = ANY($1::text[]) AND j.state IN ('queued', 'running')

-- Record progress of a held claim, fenced by (id, attempt, worker).
-- Params: $1 id bigint, $2 attempt int, $3 worker text, $4 progress text (JSON)
-- Returns: id when recorded
UPDATE __SCHEMA__.jobs
SET progress = $4::jsonb, updated_at = now()
WHERE id = $1 AND state = 'running' AND attempts = $2 AND worker_id = $3
RETURNING id::text AS id

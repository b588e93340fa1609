-- Record successes in one statement, fenced by (id, attempt, worker): a lost claim changes nothing.
-- Params: $1 ids bigint[], $2 attempts int[], $3 workers text[], $4 results text[] (JSON or NULL)
-- Returns: id (text), attempt, worker_id of each completed job (the item that matched)
UPDATE __SCHEMA__.jobs j
SET state = 'completed', result = u.result::jsonb, finished_at = now(), updated_at = now(),
    worker_id = NULL, lease_expires_at = NULL
FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[]) AS u(id, attempt, worker_id, result)
WHERE j.id = u.id AND j.state = 'running' AND j.attempts = u.attempt AND j.worker_id = u.worker_id
RETURNING j.id::text AS id, u.attempt, u.worker_id

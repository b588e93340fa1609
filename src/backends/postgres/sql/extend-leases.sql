-- Extend the leases of claims still held by this worker (fenced by id, attempt, worker).
-- Params: $1 ids bigint[], $2 attempts int[], $3 worker text, $4 lease ms float8
-- Returns: id (text), attempt of each extended claim; the others are lost
-- (state = (SELECT 'running'): each item is found by its primary key, never through the running
-- index — a hash join over every running row, dead ones included, costs more as the table ages)
UPDATE __SCHEMA__.jobs j
SET lease_expires_at = now() + $4 * interval '1 millisecond'
FROM unnest($1::bigint[], $2::int[]) AS u(id, attempt)
WHERE j.id = u.id AND j.state = (SELECT 'running') AND j.attempts = u.attempt AND j.worker_id = $3
RETURNING j.id::text AS id, u.attempt

-- Extend the leases of claims still held by this worker (fenced by id, attempt, worker).
-- Params: $1 ids bigint[], $2 attempts int[], $3 worker text, $4 lease ms float8
-- Returns: id (text), attempt of each extended claim; the others are lost
-- Plan shape as complete-jobs.sql: rows found by primary key (j.id = ANY(an InitPlan of $1)), the fence compared
-- to columns of the items subquery (OFFSET 0), so no filter on jobs makes the planner expect one
-- row there and scan the table.
UPDATE __SCHEMA__.jobs j
SET lease_expires_at = now() + $4 * interval '1 millisecond'
FROM (SELECT t.id, t.attempt, 'running'::text AS running, $3::text AS worker_id
      FROM unnest($1::bigint[], $2::int[]) AS t(id, attempt)
      OFFSET 0) u
WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
RETURNING j.id::text AS id, u.attempt

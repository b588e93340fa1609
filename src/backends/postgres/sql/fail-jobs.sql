-- Record failed attempts in one statement, fenced by (id, attempt, worker). The error is appended
-- to errors (the last $6 kept) and last_error; final or out of attempts -> failed, else queued
-- again at now + delay (reported as scheduled). Queues with a job ready now get a NOTIFY.
-- Params: $1 ids bigint[], $2 attempts int[], $3 workers text[], $4 errors text[],
--         $5 retry delay ms float8[], $6 final bool[], $7 errors kept int, $8 wake-up channel text
-- Returns: id (text), attempt, worker_id (the item that matched), state (stored), scheduled (run_at in the future) of each recorded job
-- Plan shape as complete-jobs.sql: rows found by primary key (j.id = ANY(an InitPlan of $1)), the fence compared
-- to columns of the items subquery (OFFSET 0), so no filter on jobs makes the planner expect one
-- row there and scan the table.
WITH upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = CASE WHEN u.final OR j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
      run_at = CASE WHEN u.final OR j.attempts >= j.max_attempts THEN j.run_at
                    ELSE now() + u.delay_ms * interval '1 millisecond' END,
      finished_at = CASE WHEN u.final OR j.attempts >= j.max_attempts THEN now() END,
      last_error = u.error,
      errors = (SELECT coalesce(jsonb_agg(e.v ORDER BY e.n), '[]'::jsonb)
                FROM jsonb_array_elements(j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', u.attempt, 'at', round(date_part('epoch', now()) * 1000)::bigint, 'message', u.error)))
                     WITH ORDINALITY AS e(v, n)
                WHERE e.n > jsonb_array_length(j.errors) + 1 - $7),
      worker_id = NULL, lease_expires_at = NULL, updated_at = now()
  FROM (SELECT t.*, 'running'::text AS running
        FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::float8[], $6::bool[])
             AS t(id, attempt, worker_id, error, delay_ms, final)
        OFFSET 0) u
  WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
  RETURNING j.id, u.attempt, u.worker_id, j.queue, j.state, j.run_at > now() AS scheduled
), woke AS (
  SELECT count(pg_notify($8, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd WHERE state = 'queued' AND NOT scheduled) q
)
SELECT upd.id::text AS id, upd.attempt, upd.worker_id, upd.state, upd.scheduled, (SELECT n FROM woke) AS woke FROM upd

-- Give claims back (graceful shutdown), fenced by (id, attempt, worker): queued again now with the
-- attempt counted; a job whose last attempt this was -> failed with the reason as its error.
-- A job released with not_started (prefetched, never ran) gets its attempt back, keeps its
-- run_at and is never failed.
-- Params: $1 ids bigint[], $2 attempts int[], $3 workers text[], $4 reasons text[],
--         $5 errors kept int, $6 wake-up channel text, $7 not_started bool[]
-- Returns: id (text), attempt, worker_id (the item that matched), state (stored) of each released job
-- Plan shape as complete-jobs.sql: rows found by primary key (j.id = ANY(an InitPlan of $1)), the fence compared
-- to columns of the items subquery (OFFSET 0), so no filter on jobs makes the planner expect one
-- row there and scan the table.
WITH upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = CASE WHEN NOT u.not_started AND j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
      attempts = CASE WHEN u.not_started THEN j.attempts - 1 ELSE j.attempts END,
      started_at = CASE WHEN u.not_started THEN NULL ELSE j.started_at END,
      run_at = CASE WHEN u.not_started OR j.attempts >= j.max_attempts THEN j.run_at ELSE now() END,
      finished_at = CASE WHEN NOT u.not_started AND j.attempts >= j.max_attempts THEN now() END,
      last_error = CASE WHEN NOT u.not_started AND j.attempts >= j.max_attempts THEN u.reason ELSE j.last_error END,
      errors = CASE WHEN u.not_started OR j.attempts < j.max_attempts THEN j.errors ELSE
               (SELECT coalesce(jsonb_agg(e.v ORDER BY e.n), '[]'::jsonb)
                FROM jsonb_array_elements(j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', u.attempt, 'at', round(date_part('epoch', now()) * 1000)::bigint, 'message', u.reason)))
                     WITH ORDINALITY AS e(v, n)
                WHERE e.n > jsonb_array_length(j.errors) + 1 - $5) END,
      worker_id = NULL, lease_expires_at = NULL, updated_at = now()
  FROM (SELECT t.*, 'running'::text AS running
        FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $7::bool[]) AS t(id, attempt, worker_id, reason, not_started)
        OFFSET 0) u
  WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
  RETURNING j.id, u.attempt, u.worker_id, j.queue, j.state
), woke AS (
  SELECT count(pg_notify($6, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd WHERE state = 'queued') q
)
SELECT upd.id::text AS id, upd.attempt, upd.worker_id, upd.state, (SELECT n FROM woke) AS woke FROM upd

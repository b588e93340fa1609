-- Prototype (session 7, not shipped): complete-jobs.sql for the finished-table variant
-- (finished-table.sql): the fenced rows are DELETEd from jobs and INSERTed into jobs_finished as
-- completed, with the kept `completed` line ($10) as complete-jobs.sql keeps it. Same parameters
-- and answer as complete-jobs.sql, except that items with several event lines ($5-$8, written to
-- the logs table by complete-jobs.sql) are not supported: the benchmarks send one line per job;
-- `unsupported` counts such lines so a probe can refuse them. SQL_OVERRIDE=completeJobs=<this
-- file> (run.mjs, the CPU probes) or COMPLETE_SQL=<this file> (pg-statement-cpu.mjs).
WITH u AS MATERIALIZED (
  SELECT t.id, t.attempt, t.item, t.line, 'running'::text AS running,
         CASE WHEN cardinality($3::text[]) = 1 THEN $3[1] ELSE t.worker_id END AS worker_id,
         CASE WHEN cardinality($4::text[]) = 1 THEN $4[1] ELSE t.result END AS result
  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $10::text[]) WITH ORDINALITY AS t(id, attempt, worker_id, result, line, item)
  WHERE t.id IS NOT NULL
), del AS (
  DELETE FROM __SCHEMA__.jobs j
  USING u
  WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
  RETURNING j.*, u.worker_id AS u_worker, u.item, u.line, u.result AS u_result
), done AS (
  INSERT INTO __SCHEMA__.jobs_finished (id, queue, name, payload, priority, state, attempts, max_attempts, run_at, timeout_ms,
     unique_key, worker_id, lease_expires_at, last_error, errors, result, progress, created_at, started_at, finished_at, updated_at,
     done_seq, done_worker, done_line)
  SELECT d.id, d.queue, d.name, d.payload, d.priority, 'completed', d.attempts, d.max_attempts, d.run_at, d.timeout_ms,
     d.unique_key, NULL, NULL, d.last_error, d.errors, d.u_result::jsonb, d.progress, d.created_at, d.started_at, now(), now(),
     CASE WHEN d.line IS NOT NULL THEN nextval('__SCHEMA__.logs_seq_seq') END,
     CASE WHEN d.line IS NOT NULL THEN d.u_worker END, d.line
  FROM del d
  RETURNING id
), note AS (
  SELECT pg_notify($9, c.n::text)
  FROM (SELECT count(*) AS n FROM del WHERE del.line IS NOT NULL) c
  WHERE c.n > 0 AND $9::text IS NOT NULL
)
SELECT string_agg(del.item::text, ',') AS items, (SELECT count(*) FROM note) AS noted, (SELECT count(*) FROM done) AS moved,
       cardinality($5::int[]) + cardinality($6::float8[]) + cardinality($7::text[]) + cardinality($8::text[]) AS unsupported
FROM del

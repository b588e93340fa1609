-- Record successes in one statement, fenced by (id, attempt, worker): a lost claim changes nothing.
-- An item's one event line ($10, the worker's `completed …` line) is kept on the completed row
-- (done_seq from the logs sequence, done_worker, done_line: migration-004.sql), not inserted into
-- the logs table; read-logs.sql merges it. Items with other event lines (CompleteItem.events with
-- several lines) have them appended to the logs in the same statement ($5-$8), only for the items
-- whose outcome was recorded, in input order. Followers get one NOTIFY, unless $9 is NULL: a
-- handle spaces its completions' NOTIFYs out and sends the skipped one later (context.ts).
-- $3, $4 and $7 may be one-element arrays: the value of every item / line (one worker, no results).
-- Params: $1 ids bigint[], $2 attempts int[], $3 workers text[], $4 results text[] (JSON or NULL),
--         $5 item of each event line int[] (1-based position in $1), $6 line ts float8[] (epoch ms),
--         $7 line queue text[], $8 line message text[], $9 log channel text (NULL = no NOTIFY),
--         $10 the kept line of each item text[] (NULL = none; [] = none for every item)
-- Returns: one row: items (text, the comma-separated 1-based positions in $1 of the items recorded;
--          NULL when none), noted
-- Plan shape: the jobs rows are found by their primary key (j.id = ANY($1)), never by a scan of the
-- table nor through the running index (a hash join over every running row, dead ones included,
-- costs more as the table ages). The fence (state, attempt, worker) is compared to columns of
-- the items subquery (OFFSET 0 keeps it a subquery, so 'running' stays a column): join clauses,
-- not filters on jobs whose default selectivity would make the planner expect one row there and
-- pick a seq scan of the table nested with the items — quadratic in the batch size on a table
-- without statistics (measured: 300 items, 24,000 jobs: 100 ms instead of 2 ms). The id array
-- reaches the jobs scan through an InitPlan ((SELECT $1)): the planner sees no constant, so the
-- first five, custom plans of a connection read the primary key as the generic plan does from
-- the sixth call on; with the constant in sight it scanned a table without statistics instead
-- (a completion of 500 jobs: 5.2 ms against 4.0, docs/benchmarks.md sixth session).
WITH done AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'completed', result = u.result::jsonb, finished_at = now(), updated_at = now(),
      worker_id = NULL, lease_expires_at = NULL,
      done_seq = CASE WHEN u.line IS NOT NULL THEN nextval('__SCHEMA__.logs_seq_seq') END,
      done_worker = CASE WHEN u.line IS NOT NULL THEN u.worker_id END, done_line = u.line
  FROM (SELECT t.id, t.attempt, t.item, t.line, 'running'::text AS running,
               CASE WHEN cardinality($3::text[]) = 1 THEN $3[1] ELSE t.worker_id END AS worker_id,
               CASE WHEN cardinality($4::text[]) = 1 THEN $4[1] ELSE t.result END AS result
        FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $10::text[]) WITH ORDINALITY AS t(id, attempt, worker_id, result, line, item)
        WHERE t.id IS NOT NULL OFFSET 0) u
  WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
  RETURNING j.id, u.worker_id, u.item, u.line IS NOT NULL AS kept
), ev AS (
  INSERT INTO __SCHEMA__.logs (ts, job_id, worker, queue, stream, message)
  SELECT timestamptz 'epoch' + e.ts * interval '1 millisecond', d.id, d.worker_id,
         CASE WHEN cardinality($7::text[]) = 1 THEN $7[1] ELSE e.queue END, 'event', e.message
  FROM unnest($5::int[], $6::float8[], $7::text[], $8::text[]) WITH ORDINALITY AS e(item, ts, queue, message, ord)
  JOIN done d ON d.item = e.item
  ORDER BY e.ord
  RETURNING 1
), note AS (
  SELECT pg_notify($9, c.n::text)
  FROM (SELECT (SELECT count(*) FROM ev) + (SELECT count(*) FROM done WHERE done.kept) AS n) c
  WHERE c.n > 0 AND $9::text IS NOT NULL
)
SELECT string_agg(done.item::text, ',') AS items, (SELECT count(*) FROM note) AS noted FROM done

-- Bound (session 9, never shipped: it breaks the contract): complete-jobs.sql as graphile-worker
-- and the raw baseline complete, by DELETEing the fenced rows. No history, no kept line, no event
-- lines, no NOTIFY ($5-$9 are only typed). It measures how fast the burn-down could be if jobctl
-- kept nothing of a completed job (docs/benchmarks.md, session 9). Same parameters and answer as
-- complete-jobs.sql. SQL_OVERRIDE=completeJobs=<this file> (run.mjs, the CPU probes).
WITH p AS (SELECT $5::int[] AS a, $6::float8[] AS b, $7::text[] AS c, $8::text[] AS d, $9::text AS e),
done AS (
  DELETE FROM __SCHEMA__.jobs j
  USING (SELECT t.id, t.attempt, t.item, 'running'::text AS running,
                CASE WHEN cardinality($3::text[]) = 1 THEN $3[1] ELSE t.worker_id END AS worker_id
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $10::text[]) WITH ORDINALITY AS t(id, attempt, worker_id, result, line, item)
         WHERE t.id IS NOT NULL OFFSET 0) u
  WHERE j.id = ANY((SELECT $1::bigint[])::bigint[]) AND j.id = u.id AND j.state = u.running AND j.attempts = u.attempt AND j.worker_id = u.worker_id
  RETURNING u.item
)
SELECT string_agg(done.item::text, ',') AS items, 0::bigint AS noted FROM done

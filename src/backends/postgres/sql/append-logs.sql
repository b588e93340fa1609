-- Append log lines in one statement and NOTIFY followers once.
-- Params: $1 ts float8[] (epoch ms, NULL = now), $2 job ids bigint[], $3 workers text[],
--         $4 queues text[], $5 streams text[], $6 messages text[], $7 log channel text
-- Returns: n (lines written)
WITH ins AS (
  INSERT INTO __SCHEMA__.logs (ts, job_id, worker, queue, stream, message)
  SELECT coalesce(timestamptz 'epoch' + t.ts * interval '1 millisecond', now()), t.job_id, t.worker, t.queue, t.stream, t.message
  FROM unnest($1::float8[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
       WITH ORDINALITY AS t(ts, job_id, worker, queue, stream, message, ord)
  ORDER BY t.ord
  RETURNING 1
)
SELECT n, pg_notify($7, n::text) FROM (SELECT count(*) AS n FROM ins) c

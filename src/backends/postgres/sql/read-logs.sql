-- Log lines after a cursor, oldest first: the logs rows and the `completed` lines kept on job rows
-- (done_seq, migration-004.sql), merged by seq.
-- Params: $1 job id bigint, $2 worker, $3 queue (NULL = any), $4 after seq bigint (0 = start),
--         $5 since epoch ms float8 (NULL = any), $6 limit int
-- Returns: log rows in seq order
SELECT m.seq::text AS seq, m.ts, m.job_id::text AS job_id, m.worker, m.queue, m.stream, m.message
FROM (
  (SELECT l.seq, l.ts, l.job_id, l.worker, l.queue, l.stream, l.message
   FROM __SCHEMA__.logs l
   WHERE l.seq > $4 AND ($1::bigint IS NULL OR l.job_id = $1) AND ($2::text IS NULL OR l.worker = $2) AND ($3::text IS NULL OR l.queue = $3)
     AND ($5::float8 IS NULL OR l.ts >= timestamptz 'epoch' + $5 * interval '1 millisecond')
   ORDER BY l.seq
   LIMIT $6)
  UNION ALL
  (SELECT j.done_seq, j.finished_at, j.id, j.done_worker, j.queue, 'event', j.done_line
   FROM __SCHEMA__.jobs j
   WHERE j.done_seq > $4 AND ($1::bigint IS NULL OR j.id = $1) AND ($2::text IS NULL OR j.done_worker = $2) AND ($3::text IS NULL OR j.queue = $3)
     AND ($5::float8 IS NULL OR j.finished_at >= timestamptz 'epoch' + $5 * interval '1 millisecond')
   ORDER BY j.done_seq
   LIMIT $6)
) m
ORDER BY m.seq
LIMIT $6

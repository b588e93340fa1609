-- Log lines after a cursor, oldest first.
-- Params: $1 job id bigint, $2 worker, $3 queue (NULL = any), $4 after seq bigint (0 = start),
--         $5 since epoch ms float8 (NULL = any), $6 limit int
-- Returns: log rows in seq order
SELECT l.seq::text AS seq, l.ts, l.job_id::text AS job_id, l.worker, l.queue, l.stream, l.message
FROM __SCHEMA__.logs l
WHERE l.seq > $4 AND ($1::bigint IS NULL OR l.job_id = $1) AND ($2::text IS NULL OR l.worker = $2) AND ($3::text IS NULL OR l.queue = $3)
  AND ($5::float8 IS NULL OR l.ts >= timestamptz 'epoch' + $5 * interval '1 millisecond')
ORDER BY l.seq
LIMIT $6

-- The last $6 matching log lines, newest first (the caller reverses them).
-- Params: as read-logs.sql ($4 unused: pass 0)
-- Returns: log rows in descending seq order
SELECT l.seq::text AS seq, l.ts, l.job_id::text AS job_id, l.worker, l.queue, l.stream, l.message
FROM __SCHEMA__.logs l
WHERE l.seq > $4 AND ($1::bigint IS NULL OR l.job_id = $1) AND ($2::text IS NULL OR l.worker = $2) AND ($3::text IS NULL OR l.queue = $3)
  AND ($5::float8 IS NULL OR l.ts >= timestamptz 'epoch' + $5 * interval '1 millisecond')
ORDER BY l.seq DESC
LIMIT $6

-- The last :limit log lines, newest first (the caller reverses; filter led by queue: index logs_queue).
-- Params: :jobId :worker :queue :since (NULL = any) :limit
-- Returns: log rows in descending seq order
SELECT CAST(seq AS TEXT) AS seq, ts, job_id, worker, queue, stream, message
FROM logs
WHERE queue = :queue AND (:jobId IS NULL OR job_id = :jobId) AND (:worker IS NULL OR worker = :worker)
  AND (:since IS NULL OR ts >= :since)
ORDER BY logs.seq DESC
LIMIT :limit

-- The last :limit log lines, newest first (the caller reverses; filter led by job: index logs_job).
-- Params: :jobId :worker :queue :since (NULL = any) :limit
-- Returns: log rows in descending seq order
SELECT CAST(seq AS TEXT) AS seq, ts, job_id, worker, queue, stream, message
FROM logs
WHERE job_id = :jobId AND (:worker IS NULL OR worker = :worker) AND (:queue IS NULL OR queue = :queue)
  AND (:since IS NULL OR ts >= :since)
ORDER BY logs.seq DESC
LIMIT :limit

-- The last :limit log lines, newest first (the caller reverses; filter led by worker: index logs_worker).
-- Params: :jobId :worker :queue :since (NULL = any) :limit
-- Returns: log rows in descending seq order
SELECT CAST(seq AS TEXT) AS seq, ts, job_id, worker, queue, stream, message
FROM logs
WHERE worker = :worker AND (:jobId IS NULL OR job_id = :jobId) AND (:queue IS NULL OR queue = :queue)
  AND (:since IS NULL OR ts >= :since)
ORDER BY logs.seq DESC
LIMIT :limit

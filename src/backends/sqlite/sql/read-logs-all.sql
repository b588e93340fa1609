-- Log lines after a cursor, oldest first (filter led by all: index rowid).
-- Params: :after (seq, 0 = from the start) :jobId :worker :queue :since (NULL = any) :limit
-- Returns: log rows in seq order
SELECT CAST(seq AS TEXT) AS seq, ts, job_id, worker, queue, stream, message
FROM logs
WHERE seq > :after AND (:jobId IS NULL OR job_id = :jobId) AND (:worker IS NULL OR worker = :worker) AND (:queue IS NULL OR queue = :queue)
  AND (:since IS NULL OR ts >= :since)
ORDER BY logs.seq
LIMIT :limit

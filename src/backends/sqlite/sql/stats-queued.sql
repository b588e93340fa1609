-- Scheduled count and oldest runnable run_at per queue, over queued rows.
-- Params: :now :queue (NULL = all)
-- Returns: queue, scheduled, oldest (run_at of the oldest runnable job, or NULL)
SELECT queue, sum(run_at > :now) AS scheduled, min(CASE WHEN run_at <= :now THEN run_at END) AS oldest
FROM jobs
WHERE state = 'queued' AND (:queue IS NULL OR queue = :queue)
GROUP BY queue

-- Orphaned and stuck counts per queue, over running rows.
-- Params: :now :queue (NULL = all)
-- Returns: queue, orphaned, stuck
SELECT queue, sum(orphan) AS orphaned, sum(NOT orphan AND started_at + timeout_ms < :now) AS stuck
FROM (
  SELECT j.queue, j.started_at, j.timeout_ms,
         (j.lease_expires_at IS NULL OR j.lease_expires_at <= :now OR w.name IS NULL OR w.last_heartbeat_at + w.ttl_ms <= :now) AS orphan
  FROM jobs j LEFT JOIN workers w ON w.name = j.worker_id
  WHERE j.state = 'running' AND (:queue IS NULL OR j.queue = :queue)
)
GROUP BY queue

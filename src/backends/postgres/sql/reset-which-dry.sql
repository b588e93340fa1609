-- What reset-which.sql would do (no locks, nothing written).
-- Params: $1 which text ('orphaned' | 'stuck'), $2 queue text (NULL = all), $3 limit int
-- Returns: id (text), worker_id, held (live worker and valid lease), in id order
SELECT j.id::text AS id, j.worker_id, (j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())) AS held
FROM __SCHEMA__.jobs j
WHERE j.state = 'running' AND ($2::text IS NULL OR j.queue = $2)
    AND CASE WHEN $1 = 'orphaned'
             THEN j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR NOT EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())
             ELSE j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now()) AND j.started_at + j.timeout_ms * interval '1 millisecond' < now() END
ORDER BY j.id
LIMIT $3

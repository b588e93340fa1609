-- What requeue-state.sql would change (no locks, nothing written).
-- Params: $1 state text, $2 queue text (NULL = all), $3 limit int
-- Returns: id (text) in id order
SELECT j.id::text AS id FROM __SCHEMA__.jobs j
WHERE j.state = $1 AND ($2::text IS NULL OR j.queue = $2) AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.jobs x WHERE j.unique_key IS NOT NULL AND x.unique_key = j.unique_key AND x.state IN ('queued', 'running'))
ORDER BY j.id
LIMIT $3

-- Finished jobs of one state that finished before a bound.
-- Params: :state :before :queue (NULL = all) :limit
-- Returns: id (text)
SELECT CAST(id AS TEXT) AS id
FROM jobs
WHERE state = :state AND finished_at < :before AND (:queue IS NULL OR queue = :queue)
ORDER BY finished_at
LIMIT :limit

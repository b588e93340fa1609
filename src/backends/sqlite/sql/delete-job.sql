-- Delete one job.
-- Params: :id
DELETE FROM jobs WHERE id = :id

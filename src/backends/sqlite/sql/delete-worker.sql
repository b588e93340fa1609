-- Remove a worker record.
-- Params: :name
DELETE FROM workers WHERE name = :name

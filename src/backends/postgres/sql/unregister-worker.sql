-- Remove a worker record.
-- Params: $1 name
DELETE FROM __SCHEMA__.workers WHERE name = $1

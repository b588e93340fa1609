-- Record an applied migration.
-- Params: $1 version (int)
INSERT INTO __SCHEMA__.schema_version (version) VALUES ($1)

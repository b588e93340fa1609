-- The applied schema version (fails with 42P01/3F000 when the schema is not set up yet).
-- Params: none
-- Returns: version (int or NULL)
SELECT max(version) AS version FROM __SCHEMA__.schema_version

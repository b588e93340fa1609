-- Serialise migrators of one schema for the rest of the transaction.
-- Params: $1 lock name (text, hashed)
SELECT pg_advisory_xact_lock(hashtext($1))

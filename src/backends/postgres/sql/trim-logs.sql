-- Retention: delete up to $2 log lines older than $1 ms (BRIN index on ts).
-- Params: $1 retention ms float8, $2 limit int
-- Returns: deleted (count)
WITH del AS (
  DELETE FROM __SCHEMA__.logs l
  WHERE l.seq IN (SELECT o.seq FROM __SCHEMA__.logs o WHERE o.ts < now() - $1 * interval '1 millisecond' LIMIT $2)
  RETURNING 1
)
SELECT count(*) AS deleted FROM del

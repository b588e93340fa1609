-- Retention: drop log lines older than a bound. Lines are appended in time order, so the cut
-- is the first line (by seq) at or after the bound; finding it reads only the lines it deletes.
-- Params: :before (epoch ms)
DELETE FROM logs
WHERE seq < coalesce(
  (SELECT seq FROM logs WHERE ts >= :before ORDER BY seq LIMIT 1),
  (SELECT max(seq) + 1 FROM logs)
)

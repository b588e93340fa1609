-- Enqueue a batch in one statement. Ids are drawn in input order; a row whose unique key is held
-- by an unfinished job is not inserted and the holder's id is returned instead (the holder may
-- be another row of this batch). One NOTIFY per queue with jobs that are ready now.
-- Params: $1 queue text[], $2 name text[], $3 payload text[] (JSON), $4 priority int[],
--         $5 run_at float8[] (epoch ms, NULL = now), $6 max_attempts int[], $7 timeout_ms int8[],
--         $8 unique_key text[] (NULL = none), $9 wake-up channel text
-- Returns: one row per input in input order: ord, id (text; NULL when the holder committed
--          after this statement started: look it up again), created, now
WITH input AS MATERIALIZED (
  SELECT nextval('__SCHEMA__.jobs_id_seq') AS id, t.*
  FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::int[], $7::int8[], $8::text[])
       WITH ORDINALITY AS t(queue, name, payload, priority, run_at_ms, max_attempts, timeout_ms, unique_key, ord)
), ins AS (
  INSERT INTO __SCHEMA__.jobs AS j (id, queue, name, payload, priority, run_at, max_attempts, timeout_ms, unique_key)
  SELECT id, queue, name, payload::jsonb, priority,
         COALESCE(timestamptz 'epoch' + run_at_ms * interval '1 millisecond', now()),
         max_attempts, timeout_ms, unique_key
  FROM input
  ORDER BY ord
  ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING
  RETURNING j.id, j.queue, j.unique_key, j.run_at <= now() AS ready
), woke AS (
  SELECT count(pg_notify($9, q.queue)) AS n FROM (SELECT DISTINCT queue FROM ins WHERE ready) q
)
SELECT i.ord, COALESCE(ins.id, dup.id, old.id)::text AS id, ins.id IS NOT NULL AS created, now() AS now,
       (SELECT n FROM woke) AS woke
FROM input i
LEFT JOIN ins ON ins.id = i.id
LEFT JOIN LATERAL (
  SELECT min(d.id) AS id FROM ins d WHERE ins.id IS NULL AND d.unique_key = i.unique_key
) dup ON true
LEFT JOIN __SCHEMA__.jobs old
  ON ins.id IS NULL AND dup.id IS NULL AND old.unique_key = i.unique_key AND old.state IN ('queued', 'running')
ORDER BY i.ord

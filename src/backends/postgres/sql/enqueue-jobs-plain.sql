-- Enqueue a batch without unique keys in one statement (the common, fast path: no conflict is
-- possible, so no ON CONFLICT and no join back). Ids come from the sequence in input order, so
-- the caller maps the returned ids, sorted ascending, to the inputs in order. One NOTIFY per
-- queue with jobs that are ready now.
-- Params: $1 queue text[], $2 name text[], $3 payload text[] (JSON), $4 priority int[],
--         $5 run_at float8[] (epoch ms, NULL = now), $6 max_attempts int[], $7 timeout_ms int8[],
--         $8 wake-up channel text
-- Returns: one row: ids (text, the inserted ids comma-separated in ascending order), n (how many),
--          now_ms (epoch ms float8)
WITH ins AS (
  INSERT INTO __SCHEMA__.jobs AS j (queue, name, payload, priority, run_at, max_attempts, timeout_ms)
  SELECT t.queue, t.name, t.payload::jsonb, t.priority,
         coalesce(timestamptz 'epoch' + t.run_at_ms * interval '1 millisecond', now()), t.max_attempts, t.timeout_ms
  FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::int[], $7::int8[])
       WITH ORDINALITY AS t(queue, name, payload, priority, run_at_ms, max_attempts, timeout_ms, ord)
  ORDER BY t.ord
  RETURNING j.id, j.queue, j.run_at <= now() AS ready
), woke AS (
  SELECT count(pg_notify($8, q.queue)) AS n FROM (SELECT DISTINCT queue FROM ins WHERE ready) q
)
SELECT string_agg(ins.id::text, ',' ORDER BY ins.id) AS ids, count(*) AS n, date_part('epoch', now()) * 1000 AS now_ms,
       (SELECT n FROM woke) AS woke
FROM ins

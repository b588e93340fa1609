-- Enqueue a batch without unique keys in one statement (the common, fast path: no conflict is
-- possible, so no ON CONFLICT and no join back). Ids come from the sequence in input order, so
-- the caller maps the returned ids, ascending, to the inputs in order. A column that is the same
-- for the whole batch may be sent as a one-element array (applies to every row): less to encode,
-- send and parse than n copies. The payloads travel as ONE JSON array (the caller joins the
-- payload texts): parsed once, no text[] escaping of every payload by the driver and no array_in
-- plus a jsonb parse per element.
-- Cheap per row: the insert returns only the id, and the ids come back as a range (first id and
-- count) when they are consecutive, as they are unless another transaction drew from the sequence
-- during the statement; only then as a list. The wake-ups are decided from the parameters (a
-- queue with a job whose run time is not in the future), not from the inserted rows: one NOTIFY
-- per such queue, at commit.
-- Params: $1 queue text[], $2 name text[], $3 payloads jsonb (a JSON array, one element per job, sets n),
--         $4 priority int[], $5 run_at float8[] (epoch ms, NULL = now), $6 max_attempts int[],
--         $7 timeout_ms int8[], $8 wake-up channel text
-- Returns: one row: first_id (text, the smallest inserted id), n (how many), ids (text, NULL when
--          the ids are first_id .. first_id + n - 1, else all of them comma-separated ascending),
--          now_ms (epoch ms float8), woke (queues notified)
WITH ins AS (
  INSERT INTO __SCHEMA__.jobs AS j (queue, name, payload, priority, run_at, max_attempts, timeout_ms)
  SELECT CASE WHEN cardinality($1::text[]) = 1 THEN $1[1] ELSE t.queue END,
         CASE WHEN cardinality($2::text[]) = 1 THEN $2[1] ELSE t.name END,
         t.payload,
         CASE WHEN cardinality($4::int[]) = 1 THEN $4[1] ELSE t.priority END,
         coalesce(timestamptz 'epoch' + CASE WHEN cardinality($5::float8[]) = 1 THEN $5[1] ELSE t.run_at_ms END
                                        * interval '1 millisecond', now()),
         CASE WHEN cardinality($6::int[]) = 1 THEN $6[1] ELSE t.max_attempts END,
         CASE WHEN cardinality($7::int8[]) = 1 THEN $7[1] ELSE t.timeout_ms END
  FROM ROWS FROM (jsonb_array_elements($3::jsonb), unnest($1::text[], $2::text[], $4::int[], $5::float8[], $6::int[], $7::int8[]))
       WITH ORDINALITY AS t(payload, queue, name, priority, run_at_ms, max_attempts, timeout_ms, ord)
  WHERE t.payload IS NOT NULL
  ORDER BY t.ord
  RETURNING j.id
), span AS (
  SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM ins
), woke AS (
  -- the rows' queue and run time as the insert takes them (a one-element array stands for every row)
  SELECT count(pg_notify($8, d.queue)) AS n
  FROM (SELECT DISTINCT CASE WHEN cardinality($1::text[]) = 1 THEN $1[1] ELSE u.queue END AS queue
        FROM ROWS FROM (unnest($1::text[]), unnest($5::float8[])) AS u(queue, run_at_ms)
        WHERE coalesce(CASE WHEN cardinality($5::float8[]) = 1 THEN $5[1] ELSE u.run_at_ms END
                       <= date_part('epoch', now()) * 1000, true)) d
)
SELECT s.lo::text AS first_id, s.n,
       CASE WHEN s.hi - s.lo + 1 <> s.n THEN (SELECT string_agg(ins.id::text, ',' ORDER BY ins.id) FROM ins) END AS ids,
       date_part('epoch', now()) * 1000 AS now_ms, (SELECT n FROM woke) AS woke
FROM span s

-- Migration 2: per-queue, per-state job counts for `stats` at any table size, and cheaper logs.
-- Run by migrate.ts like migration-001.sql (one transaction, migrate lock); __SCHEMA__ is the
-- quoted schema name.
-- Params: none (a script of DDL statements)
--
-- job_counts holds DELTA rows: every statement that inserts, updates or deletes jobs appends, from
-- a statement-level trigger over its transition tables, one row per (queue, state) whose count it
-- changed. Appending never contends (no row is updated in place, so concurrent workers never wait
-- on each other for a counter). compact-counts.sql folds the rows into one per (queue, state)
-- now and then. stats sums them: its cost follows the number of queues, not of jobs. The
-- triggers see every change, also hand-written SQL (UPDATE ... SET state = 'queued').
-- The trigger functions, the fold and the read run as the owner (SECURITY DEFINER, fixed
-- search_path): worker and read-only roles granted before this migration keep working without a
-- grant on job_counts.
CREATE TABLE __SCHEMA__.job_counts (
  queue text   NOT NULL,
  state text   NOT NULL,
  n     bigint NOT NULL
);

CREATE FUNCTION __SCHEMA__.job_counts_ins() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT t.queue, t.state, count(*) FROM new_rows t GROUP BY t.queue, t.state;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_del() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT t.queue, t.state, -count(*) FROM old_rows t GROUP BY t.queue, t.state;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_upd() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT d.queue, d.state, sum(d.n)
  FROM (SELECT t.queue, t.state, count(*) AS n FROM new_rows t GROUP BY t.queue, t.state
        UNION ALL
        SELECT t.queue, t.state, -count(*) FROM old_rows t GROUP BY t.queue, t.state) d
  GROUP BY d.queue, d.state
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_truncate() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM __SCHEMA__.job_counts;
  RETURN NULL;
END $$;

CREATE TRIGGER job_counts_ins AFTER INSERT ON __SCHEMA__.jobs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_ins();
CREATE TRIGGER job_counts_upd AFTER UPDATE ON __SCHEMA__.jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_upd();
CREATE TRIGGER job_counts_del AFTER DELETE ON __SCHEMA__.jobs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_del();
CREATE TRIGGER job_counts_truncate AFTER TRUNCATE ON __SCHEMA__.jobs
  FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_truncate();

-- Fold the delta rows into one row per (queue, state), in one transaction: a reader sees the rows
-- before or after, never both; rows of transactions not visible yet stay as they are. One folder at
-- a time (try-lock, never waits). Returns the delta rows read (0 when another folder holds the lock).
CREATE FUNCTION __SCHEMA__.job_counts_fold(lock_key text) RETURNS bigint LANGUAGE sql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH lock AS (
    SELECT pg_try_advisory_xact_lock(hashtext(lock_key)) AS ok
  ), del AS (
    DELETE FROM __SCHEMA__.job_counts c WHERE (SELECT ok FROM lock)
    RETURNING c.queue, c.state, c.n
  ), ins AS (
    INSERT INTO __SCHEMA__.job_counts (queue, state, n)
    SELECT d.queue, d.state, sum(d.n) FROM del d GROUP BY d.queue, d.state HAVING sum(d.n) <> 0
  )
  SELECT count(*) FROM del
$$;

-- The counts, summed: per (queue, state), all queues when only_queue is NULL. STABLE: it reads
-- with the snapshot of the statement that calls it (stats.sql).
CREATE FUNCTION __SCHEMA__.job_counts_read(only_queue text) RETURNS TABLE (queue text, state text, n bigint)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.queue, c.state, sum(c.n)::bigint FROM __SCHEMA__.job_counts c
  WHERE only_queue IS NULL OR c.queue = only_queue
  GROUP BY c.queue, c.state HAVING sum(c.n) <> 0
$$;

-- the jobs already there (the triggers above hold the table's lock until this transaction
-- commits, so no change is missed or counted twice)
INSERT INTO __SCHEMA__.job_counts (queue, state, n)
SELECT j.queue, j.state, count(*) FROM __SCHEMA__.jobs j GROUP BY j.queue, j.state;

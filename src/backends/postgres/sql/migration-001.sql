-- Migration 1: jobs, workers, logs and their indexes. Run by migrate.ts inside one transaction
-- under pg_advisory_xact_lock, after CREATE SCHEMA; __SCHEMA__ is the quoted schema name.
-- Params: none (a script of DDL statements)
CREATE TABLE __SCHEMA__.jobs (
  id               bigserial PRIMARY KEY,
  queue            text        NOT NULL,
  name             text        NOT NULL,
  payload          jsonb       NOT NULL DEFAULT 'null',
  priority         integer     NOT NULL DEFAULT 0,
  -- stored states; "scheduled" is reported for queued rows whose run_at is in the future
  state            text        NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  attempts         integer     NOT NULL DEFAULT 0,
  max_attempts     integer     NOT NULL DEFAULT 5,
  run_at           timestamptz NOT NULL DEFAULT now(),
  timeout_ms       bigint      NOT NULL DEFAULT 1800000,
  unique_key       text,
  worker_id        text,
  lease_expires_at timestamptz,
  last_error       text,
  errors           jsonb       NOT NULL DEFAULT '[]',
  result           jsonb,
  progress         jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
-- claim: ready jobs of one queue in claim order (only queued rows are in it)
CREATE INDEX jobs_claim_idx ON __SCHEMA__.jobs (queue, priority, run_at, id) WHERE state = 'queued';
-- unique keys are held only by unfinished jobs
CREATE UNIQUE INDEX jobs_unique_key_idx ON __SCHEMA__.jobs (unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');
-- one small partial index per stored state other than queued: a transition touches only the
-- primary key and the index of its new state. Each serves keyset listing of its state by id
-- (failed --limit 50 at 1M rows) and, covering queue, the per-queue counts of stats by an
-- index-only scan. Queued rows are counted through jobs_claim_idx.
CREATE INDEX jobs_running_idx ON __SCHEMA__.jobs (id) INCLUDE (queue) WHERE state = 'running';
CREATE INDEX jobs_completed_idx ON __SCHEMA__.jobs (id) INCLUDE (queue) WHERE state = 'completed';
CREATE INDEX jobs_failed_idx ON __SCHEMA__.jobs (id) INCLUDE (queue) WHERE state = 'failed';
CREATE INDEX jobs_cancelled_idx ON __SCHEMA__.jobs (id) INCLUDE (queue) WHERE state = 'cancelled';

CREATE TABLE __SCHEMA__.workers (
  name              text        PRIMARY KEY,
  host              text        NOT NULL,
  pid               integer     NOT NULL,
  queues            text[]      NOT NULL,
  concurrency       integer     NOT NULL,
  ttl_ms            bigint      NOT NULL,
  version           text        NOT NULL,
  started_at        timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
  running_jobs      integer     NOT NULL DEFAULT 0
);

CREATE TABLE __SCHEMA__.logs (
  seq     bigserial   PRIMARY KEY,
  ts      timestamptz NOT NULL DEFAULT now(),
  job_id  bigint,
  worker  text,
  queue   text,
  stream  text        NOT NULL CHECK (stream IN ('stdout', 'stderr', 'log', 'event')),
  message text        NOT NULL
);
CREATE INDEX logs_job_idx ON __SCHEMA__.logs (job_id, seq) WHERE job_id IS NOT NULL;
CREATE INDEX logs_worker_idx ON __SCHEMA__.logs (worker, seq) WHERE worker IS NOT NULL;
CREATE INDEX logs_queue_idx ON __SCHEMA__.logs (queue, seq) WHERE queue IS NOT NULL;
-- retention: a BRIN index costs almost nothing per insert (ts grows with seq)
CREATE INDEX logs_ts_idx ON __SCHEMA__.logs USING brin (ts);

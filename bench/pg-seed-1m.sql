-- Seed a migrated jobctl schema with 1,000,000 jobs for the inspection benchmarks (issue 3:
-- `stats`, `failed --limit 50`, `stuck` at 1M; bench/cli-latency.mjs). 5 queues; 700,000
-- completed, 200,000 failed, 98,000 queued, 2,000 running: 1,000 held by a live worker and past
-- their timeout (stuck), 1,000 held by a worker that stopped heartbeating (orphaned). The count
-- triggers count them as they go in. Usage (the schema must exist: `jobctl migrate`):
--   JOBCTL_NAMESPACE=perfpg_1m node bin/run.js migrate --url postgres://postgres@127.0.0.1:5432/test
--   psql -h 127.0.0.1 -U postgres -d test -v schema=perfpg_1m -f bench/pg-seed-1m.sql
SET search_path TO :"schema";
INSERT INTO workers (name, host, pid, queues, concurrency, ttl_ms, version, last_heartbeat_at)
VALUES ('seed-alive', 'seed', 1, '{q0,q1,q2,q3,q4}', 1000, 3600000, 'seed', now()),
       ('seed-dead', 'seed', 2, '{q0,q1,q2,q3,q4}', 1000, 30000, 'seed', now() - interval '1 hour');
INSERT INTO jobs (queue, name, payload, state, attempts, max_attempts, run_at, timeout_ms, last_error, worker_id,
                  lease_expires_at, created_at, started_at, finished_at, updated_at)
SELECT 'q' || (g % 5), 'job', jsonb_build_object('i', g), s.state,
       CASE WHEN s.state = 'queued' THEN 0 ELSE 1 END, 1, now() - interval '2 hours', 60000,
       CASE WHEN s.state = 'failed' THEN 'boom ' || g END,
       CASE WHEN s.state = 'running' THEN (CASE WHEN g % 2 = 0 THEN 'seed-alive' ELSE 'seed-dead' END) END,
       CASE WHEN s.state = 'running' THEN (CASE WHEN g % 2 = 0 THEN now() + interval '1 hour' ELSE now() - interval '1 hour' END) END,
       now() - interval '2 hours',
       CASE WHEN s.state <> 'queued' THEN now() - interval '119 minutes' END,
       CASE WHEN s.state IN ('completed', 'failed') THEN now() - interval '118 minutes' END,
       now()
FROM generate_series(1, 1000000) g
CROSS JOIN LATERAL (SELECT CASE WHEN g <= 700000 THEN 'completed' WHEN g <= 900000 THEN 'failed'
                                WHEN g <= 998000 THEN 'queued' ELSE 'running' END AS state) s;
VACUUM ANALYZE jobs;

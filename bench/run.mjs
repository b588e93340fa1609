#!/usr/bin/env node
// jobctl benchmark, same phases, fields and knobs as ../shared/peer-bench (see its README):
//   (a) enqueue N jobs through enqueueMany, BATCH per call, calls awaited one after another
//   (b) burn-down: a worker with a no-op module handler at concurrency CONC, started after (a);
//       work_jobs_s = N / (worker start -> the worker's N-th recorded outcome: its `completed`
//       event, emitted when the backend confirmed the outcome write), then checked by polling
//       stats until they report 0 unfinished jobs (an error if they do not within 20 s);
//       work_stats_jobs_s = N / (worker start -> that stats poll first saw 0): the method up to
//       2026-11-28 16:00, which also counts how long one stats call takes on the backend
//   (c) latency: LAT_N single enqueues, open loop at LAT_RATE/s, worker from (b) still running;
//       latency = handler start - just before the enqueue call (same process, monotonic clock)
// Prints ONE JSON line on stdout. Usage:
//   npm run bench -- --backend sqlite|pg|redis|nats [--url URL]
//   worker knobs (not in peer-bench): PREFETCH=N (default: the worker's), JOB_EVENTS=0
//   pg SQL variants (experiments): EXTRA_SQL, SQL_OVERRIDE (bench/pg-variant.mjs)
//   N=20000 BATCH=1000 CONC=24 LAT_N=500 LAT_RATE=200 node bench/run.mjs --backend pg --url postgres://...
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hrtime } from 'node:process';
import { parseArgs } from 'node:util';
import { connect, createWorker } from '../dist/index.js';
import { applyPgVariant } from './pg-variant.mjs';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    url: { type: 'string' },
    namespace: { type: 'string' },
  },
});

const int = (name, dflt) => (process.env[name] ? parseInt(process.env[name], 10) : dflt);
const cfg = {
  N: int('N', 20000),
  BATCH: int('BATCH', 1000),
  CONC: int('CONC', 24),
  LAT_N: int('LAT_N', 500),
  LAT_RATE: int('LAT_RATE', 200),
  DEADLINE_MS: int('DEADLINE_MS', 120000),
};
const DEFAULT_URLS = {
  pg: 'postgres://postgres@127.0.0.1:5432/test',
  redis: 'redis://127.0.0.1:6379',
  nats: 'nats://127.0.0.1:4222',
};

const nowMs = () => Number(hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 1) => (x == null || !isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

const result = {
  peer: `jobctl/${args.backend}`,
  n: cfg.N,
  batch: cfg.BATCH,
  conc: cfg.CONC,
  enqueue_jobs_s: null,
  work_jobs_s: null,
  work_handler_jobs_s: null,
  lat_n: cfg.LAT_N,
  lat_rate: cfg.LAT_RATE,
  lat_p50_ms: null,
  lat_p99_ms: null,
  lat_max_ms: null,
};
const started = nowMs();
const deadline = setTimeout(() => {
  result.error = `deadline ${cfg.DEADLINE_MS}ms exceeded`;
  result.total_s = round((nowMs() - started) / 1000, 2);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(2);
}, cfg.DEADLINE_MS);
deadline.unref();

let tmp = null;
let url = args.url;
if (!url) {
  if (args.backend === 'sqlite') {
    tmp = mkdtempSync(join(tmpdir(), 'jobctl-bench-'));
    url = join(tmp, 'jobs.db');
  } else url = DEFAULT_URLS[args.backend];
}
// One namespace for every run (emptied at the start and the end), so runs leave nothing behind.
const namespace = args.namespace ?? 'jobctl_bench';
const queue = 'bench';

async function main() {
  // pg: start from a fresh schema, as the peer benchmarks do (a table full of dead rows from earlier
  // runs would measure vacuum debt, not the queue)
  if (args.backend === 'pg') await dropPgSchema();
  // nats: likewise fresh streams and buckets (emptying leaves KV delete markers and stale index
  // markers behind: 500,000 and 61,500 of them after a day of runs)
  if (args.backend === 'nats') await dropNatsStreams();
  const client = await connect(url, { backend: args.backend, namespace });
  await emptyNamespace(client.backend);
  const backend = client.backend;
  if (args.backend === 'pg') await applyPgVariant(backend, namespace);

  // (a) enqueue
  const t0 = nowMs();
  for (let s = 0; s < cfg.N; s += cfg.BATCH) {
    const batch = [];
    for (let i = s; i < Math.min(cfg.N, s + cfg.BATCH); i++) batch.push({ name: 'noop', queue, payload: { i, lat: false } });
    await client.enqueueMany(batch);
  }
  result.enqueue_jobs_s = round(cfg.N / ((nowMs() - t0) / 1000));

  // (b) burn-down
  let count = 0;
  let firstAt = null;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const sentAt = new Float64Array(cfg.LAT_N).fill(NaN);
  const lat = [];
  let resolveLat;
  const latDone = new Promise((r) => (resolveLat = r));
  const handlers = {
    noop: async (payload) => {
      const t = nowMs();
      if (payload.lat) {
        const i = payload.i;
        if (!isNaN(sentAt[i])) {
          lat.push(t - sentAt[i]);
          sentAt[i] = NaN;
          if (lat.length === cfg.LAT_N) resolveLat();
        }
        return;
      }
      if (firstAt === null) firstAt = t;
      if (++count === cfg.N) resolveDone(t);
    },
  };
  const unfinished = async () => {
    const s = await backend.stats({ queue });
    const q = s.queues.find((x) => x.queue === queue);
    return q ? q.queued + q.scheduled + q.running : 0;
  };
  const tStart = nowMs();
  const knobs = {
    ...(process.env.PREFETCH ? { prefetch: int('PREFETCH', 0) } : {}),
    ...(process.env.JOB_EVENTS === '0' ? { jobEvents: false } : {}),
  };
  const worker = createWorker({
    backend,
    queues: queue,
    concurrency: cfg.CONC,
    handlers,
    name: `bench-${process.pid}`,
    ...knobs,
  });
  let recorded = 0;
  let resolveRecorded;
  const allRecorded = new Promise((r) => (resolveRecorded = r));
  worker.on('completed', () => {
    if (++recorded === cfg.N) resolveRecorded(nowMs());
  });
  await worker.start();
  const tHandlers = await done;
  const tRecorded = await allRecorded;
  let tDrained;
  for (;;) {
    const left = await unfinished();
    if (left === 0) {
      tDrained = nowMs();
      break;
    }
    if (nowMs() - tRecorded > 20_000) throw new Error(`stats still report ${left} unfinished jobs 20 s after the last outcome`);
    await sleep(10);
  }
  result.work_jobs_s = round(cfg.N / ((tRecorded - tStart) / 1000));
  result.work_stats_jobs_s = round(cfg.N / ((tDrained - tStart) / 1000));
  result.work_handler_jobs_s = round(cfg.N / ((tHandlers - tStart) / 1000));
  result.first_job_ms = round(firstAt - tStart, 1);

  // (c) latency
  const interval = 1000 / cfg.LAT_RATE;
  const tl = nowMs();
  const pending = [];
  let sendErrors = 0;
  for (let i = 0; i < cfg.LAT_N; i++) {
    const due = tl + i * interval;
    const wait = due - nowMs();
    if (wait > 1) await sleep(wait);
    sentAt[i] = nowMs();
    pending.push(client.enqueue({ name: 'noop', queue, payload: { i, lat: true } }).catch(() => sendErrors++));
  }
  await Promise.all(pending);
  const sendSpanS = (nowMs() - tl) / 1000;
  await Promise.race([latDone, sleep(15000)]);
  lat.sort((a, b) => a - b);
  Object.assign(result, {
    lat_p50_ms: round(pct(lat, 50), 2),
    lat_p99_ms: round(pct(lat, 99), 2),
    lat_max_ms: round(lat[lat.length - 1], 2),
    lat_seen: lat.length,
    lat_send_rate: round(cfg.LAT_N / sendSpanS, 1),
    ...(sendErrors ? { lat_send_errors: sendErrors } : {}),
  });

  await worker.stop({ graceful: true });
  await emptyNamespace(backend);
  await client.close();
  if (args.backend === 'pg') await dropPgSchema();
  if (args.backend === 'nats') await dropNatsStreams();
}

/** The namespace's streams (JC_<ns>_*) and KV buckets (KV_jc_<ns>_*). */
async function dropNatsStreams() {
  const { connect: natsConnect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await natsConnect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const names = [];
  const mine = (s) =>
    [`JC_${namespace}_`, `KV_jc_${namespace}_`].some((p) => s.startsWith(p) && !s.slice(p.length).includes('_'));
  for await (const s of jsm.streams.names()) if (mine(s)) names.push(s);
  for (const s of names) await jsm.streams.delete(s);
  await nc.close();
}

async function dropPgSchema() {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${namespace.replace(/"/g, '')}" CASCADE`);
  await c.end();
}

main()
  .then(() => finish(0))
  .catch((e) => {
    result.error = String(e && e.message ? e.message : e);
    console.error(e);
    finish(1);
  });

/** Delete what earlier (or this) run left: every unfinished job cancelled, every finished job purged. */
async function emptyNamespace(backend) {
  for (;;) {
    const { jobs } = await backend.listJobs({ states: ['queued', 'scheduled', 'running'], limit: 1000 });
    if (jobs.length === 0) break;
    await backend.cancel({ ids: jobs.map((j) => j.id) });
  }
  if (!backend.capabilities.has('purge')) return;
  while ((await backend.purge({ states: ['completed', 'failed', 'cancelled'], olderThanMs: 0, limit: 10000 })).deleted > 0);
}

function finish(code) {
  result.total_s = round((nowMs() - started) / 1000, 2);
  process.stdout.write(JSON.stringify(result) + '\n');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  setTimeout(() => process.exit(code), 50).unref();
  process.exitCode = code;
}

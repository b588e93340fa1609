#!/usr/bin/env node
// CPU per job of the pg WORK phase alone (the burn-down of bench/run.mjs, without enqueue and the
// latency phase): enqueues N jobs into a throwaway schema, then runs a worker (no-op module handler,
// concurrency CONC) until stats report nothing unfinished, and prints one JSON line: wall time,
// jobs/s, node CPU (process.cpuUsage, this process runs the worker), postgres CPU (utime+stime of
// the schema's backends, /proc, 10 ms ticks) per job, and backend calls per job (claim, complete,
// other). Same machine as the server; hold the heavy lock. Compare builds with a dist path:
//   N=20000 node bench/pg-work-cpu.mjs [path/to/dist/index.js]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { backendPids, freshSchema, processTicks } from './pg-server-cpu.mjs';
const dist = process.argv[2] ?? fileURLToPath(new URL('../dist/index.js', import.meta.url));
const { connect, createWorker } = await import(dist);
const N = +(process.env.N ?? 20000),
  CONC = +(process.env.CONC ?? 24);
const schema = process.env.SCHEMA ?? 'pgwork_cpu';
const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// experiments: EXTRA_SQL runs after the migration (__S__ = the schema)
const { admin, client } = await freshSchema(connect, url, schema);
const b = client.backend;
const ticks = new Map();
const sample = async () => {
  for (const pid of await backendPids(admin, schema, { listener: true })) {
    const t = processTicks(pid);
    if (t !== null) ticks.set(pid, Math.max(ticks.get(pid) ?? 0, t));
  }
};

const ncpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
for (let s = 0; s < N; s += 1000)
  await client.enqueueMany(
    Array.from({ length: 1000 }, (_, i) => ({ name: 'noop', queue: 'bench', payload: { i: s + i, lat: false } })),
  );
const calls = {};
const spans = {};
for (const m of ['claim', 'complete', 'fail', 'extendLeases', 'stats', 'appendLogs', 'heartbeat', 'waitForWork']) {
  const f = b[m]?.bind(b);
  if (!f) continue;
  b[m] = (...a) => {
    calls[m] = (calls[m] ?? 0) + 1;
    if (m !== 'claim' && m !== 'complete') return f(...a);
    const t = performance.now();
    return f(...a).then((r) => {
      (spans[m] ??= []).push([t, performance.now(), r.length]);
      return r;
    });
  };
}
let count = 0,
  resolveDone;
const done = new Promise((r) => (resolveDone = r));
const handlers = { noop: async () => void (++count === N && resolveDone()) };
await sample();
const before = new Map(ticks);
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    await sample();
    await new Promise((r) => setTimeout(r, 20));
  }
})();
const n0 = ncpu(),
  t0 = performance.now();
const worker = createWorker({
  backend: b,
  queues: 'bench',
  concurrency: CONC,
  handlers,
  name: `cpu-${process.pid}`,
  ...(process.env.PREFETCH ? { prefetch: +process.env.PREFETCH } : {}),
});
await worker.start();
await done;
for (;;) {
  if (process.env.DRAIN_SQL) {
    const r = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.jobs WHERE state IN ('queued', 'running')`);
    if (r.rows[0].n === 0) break;
  } else {
    const s = await b.stats({ queue: 'bench' });
    const q = s.queues.find((x) => x.queue === 'bench');
    if (!q || q.queued + q.scheduled + q.running === 0) break;
  }
  await new Promise((r) => setTimeout(r, 10));
}
const t1 = performance.now(),
  n1 = ncpu();
sampling = false;
await sampler;
await sample();
let pg0 = 0;
for (const [pid, t] of ticks) pg0 += t - (before.get(pid) ?? 0);
console.log(
  JSON.stringify({
    dist,
    n: N,
    work_ms: Math.round(t1 - t0),
    work_jobs_s: Math.round(N / ((t1 - t0) / 1000)),
    node_us_job: +((n1 - n0) / N).toFixed(1),
    pg_us_job: +((pg0 * 10000) / N).toFixed(1),
    ...(process.env.SPANS ? { spans: Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, spanStats(v, t0, t1)])) } : {}),
    calls_per_1k: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, +((v * 1000) / N).toFixed(1)])),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    ...(process.env.PIDS ? { pids: [...ticks.keys()] } : {}),
  }),
);
await worker.stop({ graceful: true });
await client.close();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await admin.end();

/** calls, mean jobs per call, mean ms per call, share of the work phase with >= 1 / 2 calls in flight */
function spanStats(v, t0, t1) {
  const ev = v
    .flatMap(([a, b]) => [
      [a, 1],
      [b, -1],
    ])
    .sort((x, y) => x[0] - y[0]);
  let k = 0,
    last = t0,
    one = 0,
    two = 0;
  for (const [t, d] of ev) {
    if (k >= 1) one += t - last;
    if (k >= 2) two += t - last;
    k += d;
    last = t;
  }
  const ms = v.reduce((a, [x, y]) => a + y - x, 0);
  return {
    calls: v.length,
    jobs: +(v.reduce((a, x) => a + x[2], 0) / v.length).toFixed(0),
    ms: +(ms / v.length).toFixed(2),
    busy1: +(one / (t1 - t0)).toFixed(2),
    busy2: +(two / (t1 - t0)).toFixed(2),
  };
}

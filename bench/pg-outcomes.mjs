#!/usr/bin/env node
// CPU per job of the pg backend's claim and complete statements alone (no worker loop): enqueues
// N jobs into a throwaway schema, claims them all in batches of B, then completes them in batches
// of B with one `completed` event line each (as the worker sends), one call at a time. Prints
// postgres CPU (utime+stime of the pool's backends, /proc, 10 ms ticks) and node CPU per job for
// each phase. Same machine as the server; hold the heavy lock. Compare two builds by passing the
// dist entry of another checkout:
//   node bench/pg-outcomes.mjs [path/to/dist/index.js]      (N=20000 B=300 by default)
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { backendTicks } from './pg-server-cpu.mjs';
const dist = process.argv[2] ?? fileURLToPath(new URL('../dist/index.js', import.meta.url));
const { connect } = await import(dist);
const N = +(process.env.N ?? 20000),
  B = +(process.env.B ?? 300);
const schema = 'jobctl_mb_pg';
const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
const client = await connect(url, { backend: 'pg', namespace: schema });
const b = client.backend;
await b.migrate();
const cpu = async () => (await backendTicks(admin, schema)) * 10000; // us (100 Hz ticks)
const ncpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
for (let s = 0; s < N; s += 1000)
  await client.enqueueMany(
    Array.from({ length: 1000 }, (_, i) => ({ name: 'noop', queue: 'bench', payload: { i: s + i, lat: false } })),
  );
await b
  .claim({ workerId: 'w', queues: ['bench'], limit: 1, leaseMs: 60000 })
  .then((j) => b.complete(j.map((x) => ({ id: x.id, attempt: x.attempt, workerId: 'w' }))));
const held = [];
let c0 = await cpu(),
  n0 = ncpu(),
  t0 = Date.now();
for (;;) {
  const j = await b.claim({ workerId: 'w', queues: ['bench'], limit: B, leaseMs: 60000 });
  if (!j.length) break;
  held.push(...j);
}
let c1 = await cpu(),
  n1 = ncpu(),
  t1 = Date.now();
for (let i = 0; i < held.length; i += B) {
  const items = held.slice(i, i + B).map((x) => ({
    id: x.id,
    attempt: x.attempt,
    workerId: 'w',
    events: { queue: 'bench', lines: [{ ts: Date.now(), message: `completed in 1ms (attempt ${x.attempt} of 5)` }] },
  }));
  const r = await b.complete(items);
  if (r.some((x) => !x.ok)) throw new Error('not ok');
}
let c2 = await cpu(),
  n2 = ncpu(),
  t2 = Date.now();
const n = held.length;
console.log(
  JSON.stringify({
    dist,
    n,
    B,
    claim_pg_us: +((c1 - c0) / n).toFixed(1),
    claim_node_us: +((n1 - n0) / n).toFixed(1),
    claim_ms: t1 - t0,
    complete_pg_us: +((c2 - c1) / n).toFixed(1),
    complete_node_us: +((n2 - n1) / n).toFixed(1),
    complete_ms: t2 - t1,
  }),
);
await client.close?.();
await b.close();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await admin.end();

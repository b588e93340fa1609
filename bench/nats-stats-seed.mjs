#!/usr/bin/env node
// Seeds a NATS namespace for timing `jobctl stats` against a big waiting index: N queued jobs
// (enqueueMany, BATCH per call), SCHED scheduled ones (an hour ahead) and RUN running ones (light
// claims of one claim call, lease 10 min).
//   N=200000 node bench/nats-stats-seed.mjs <namespace> [nats://127.0.0.1:4222]
// then: JOBCTL_NAMESPACE=<namespace> bin/jobctl stats --backend nats --json
import { connect } from '../dist/index.js';

const [ns, url = 'nats://127.0.0.1:4222'] = process.argv.slice(2);
if (!ns) throw new Error('usage: nats-stats-seed.mjs <namespace> [url]');
const N = Number(process.env.N ?? 200_000);
const BATCH = Number(process.env.BATCH ?? 5000);
const SCHED = Number(process.env.SCHED ?? 20);
const RUN = Number(process.env.RUN ?? 20);
const client = await connect(url, { backend: 'nats', namespace: ns });
await client.backend.migrate();
const t0 = Date.now();
await client.enqueueMany(Array.from({ length: RUN }, (_, i) => ({ name: 'seed', queue: 'q', payload: { run: i } })));
await client.backend.claim({ workerId: 'seed-worker', queues: ['q'], limit: RUN, leaseMs: 600_000 });
const at = Date.now() + 3600_000;
await client.enqueueMany(
  Array.from({ length: SCHED }, (_, i) => ({ name: 'seed', queue: 'q', runAt: at, payload: { sched: i } })),
);
for (let s = 0; s < N; s += BATCH)
  await client.enqueueMany(
    Array.from({ length: Math.min(BATCH, N - s) }, (_, i) => ({ name: 'seed', queue: 'q', payload: { i: s + i } })),
  );
console.log(JSON.stringify({ ns, queued: N, scheduled: SCHED, running: RUN, seed_s: (Date.now() - t0) / 1000 }));
await client.close();

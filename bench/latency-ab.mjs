#!/usr/bin/env node
// Enqueue→handler-start latency of two (or more) builds in ONE process, alternating: each build gets
// its own namespace, client and idle worker (concurrency 24), and the jobs go one at a time to
// build 0, 1, 0, 1, … (5 ms apart), so that both see the same machine load. Prints p50/p90 per
// build and deletes the namespaces. Build an older commit with `git archive <commit>` into a
// directory, `npm run build` there, then:
//   node bench/latency-ab.mjs /tmp/base/dist ./dist        (N=400 jobs in all, NATS at 127.0.0.1:4222)
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hrtime } from 'node:process';
import { pathToFileURL } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const nowMs = () => Number(hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const N = Number(process.env.N ?? 400);
const sides = [];
let seen = null;
for (const [k, dir] of process.argv
  .slice(2)
  .map((d) => resolve(d))
  .entries()) {
  const { connect, createWorker } = await import(pathToFileURL(`${dir}/index.js`).href);
  const ns = `latab${k}_${process.pid}`;
  const client = await connect('nats://127.0.0.1:4222', { backend: 'nats', namespace: ns });
  const side = { dir, ns, client, lat: [], t0: 0 };
  side.worker = createWorker({
    backend: client.backend,
    queues: 'q',
    concurrency: 24,
    name: `latab${k}-${process.pid}`,
    handlers: {
      noop: async (p) => {
        if (!p.lat) return;
        side.lat.push(nowMs() - side.t0);
        seen?.();
      },
    },
  });
  await side.worker.start();
  await client.enqueue({ name: 'noop', queue: 'q', payload: {} }); // creates the queue's consumer
  sides.push(side);
}
await sleep(500);
for (let i = 0; i < N; i++) {
  const side = sides[i % sides.length];
  await sleep(5);
  const done = new Promise((r) => (seen = r));
  side.t0 = nowMs();
  await Promise.all([side.client.enqueue({ name: 'noop', queue: 'q', payload: { lat: true } }), done]);
}
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.floor(a.length * p)];
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
for (const s of sides)
  console.log(
    JSON.stringify({
      dist: s.dir,
      n: s.lat.length,
      p50_ms: +pct(s.lat, 0.5).toFixed(3),
      p90_ms: +pct(s.lat, 0.9).toFixed(3),
      load,
    }),
  );
for (const s of sides) {
  await s.worker.stop({ graceful: true });
  await s.client.close();
}
const nc = await natsConnect({ servers: '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const names = [];
for await (const name of jsm.streams.names()) if (sides.some((s) => name.includes(`_${s.ns}_`))) names.push(name);
for (const name of names) await jsm.streams.delete(name);
await nc.close();
process.exit(0);

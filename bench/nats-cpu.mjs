#!/usr/bin/env node
// CPU per job of the NATS backend's burn-down (work phase only; docs/benchmarks.md): enqueue N no-op
// jobs into a fresh namespace, then measure process.cpuUsage() and the nats-server's utime+stime
// (/proc/<pid>/stat) around the burn-down at concurrency CONC; prints one JSON line and deletes
// the namespace. The server figure includes other clients' traffic on the same server.
//   node bench/nats-cpu.mjs [dist dir, default ./dist] [label]      (N=20000 CONC=24 JOB_EVENTS=0)
// Compare two builds by alternating them, e.g. a `git archive <commit>` built in /tmp/base:
//   for i in 1 2; do node bench/nats-cpu.mjs /tmp/base/dist before; node bench/nats-cpu.mjs ./dist after; done
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsServerCpu } from './nats-server-cpu.mjs';

const dist = resolve(process.argv[2] ?? 'dist');
const label = process.argv[3] ?? dist;
const { connect, createWorker } = await import(pathToFileURL(`${dist}/index.js`).href);
const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);
const ticks = natsServerCpu();
const ns = `cpu_${process.pid}`;
const client = await connect('nats://127.0.0.1:4222', { backend: 'nats', namespace: ns });
const b = client.backend;
for (let s = 0; s < N; s += 1000)
  await client.enqueueMany(
    Array.from({ length: Math.min(1000, N - s) }, (_, i) => ({ name: 'noop', queue: 'q', payload: { i: s + i } })),
  );
let count = 0;
let done;
const finished = new Promise((r) => (done = r));
const w = createWorker({
  backend: b,
  queues: 'q',
  concurrency: CONC,
  handlers: { noop: async () => void (++count === N && done()) },
  name: `cpu-${process.pid}`,
  ...(process.env.JOB_EVENTS === '0' ? { jobEvents: false } : {}),
});
const c0 = process.cpuUsage();
const s0 = ticks();
const t0 = performance.now();
await w.start();
await finished;
for (;;) {
  const q = (await b.stats({ queue: 'q' })).queues[0];
  if (!q || q.queued + q.running + q.scheduled === 0) break;
  await new Promise((r) => setTimeout(r, 10));
}
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
const s1 = ticks();
console.log(
  JSON.stringify({
    label,
    jobs_s: Math.round(N / ((t1 - t0) / 1000)),
    client_us_job: Math.round((c1.user + c1.system) / N),
    server_us_job: Math.round((s1 - s0) / N),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  }),
);
const nc = await natsConnect({ servers: '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const names = [];
for await (const s of jsm.streams.names()) if (s.includes(`_${ns}_`)) names.push(s);
for (const s of names) await jsm.streams.delete(s);
await nc.close();
process.exit(0);

#!/usr/bin/env node
// In-process wall time of the NATS backend's stats() and listJobs({states:[orphaned]}) (7 each,
// one connection), as a library user or a worker calls them, without the CLI start-up:
//   node bench/nats-stats-inproc.mjs <dir with dist/> <namespace> <label>   (see nats-stats-seed.mjs)
import { performance } from 'node:perf_hooks';

const dir = process.argv[2],
  ns = process.argv[3],
  label = process.argv[4];
const { connect } = await import(`${dir}/dist/index.js`);
const c = await connect('nats://127.0.0.1:4222', { backend: 'nats', namespace: ns });
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (f) => {
  const xs = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    await f();
    xs.push(Math.round(performance.now() - t));
  }
  return xs;
};
const stats = await time(() => c.backend.stats({}));
const orphaned = await time(() => c.backend.listJobs({ states: ['orphaned'], limit: 100 }));
const s = (await c.backend.stats({})).queues[0];
console.log(
  JSON.stringify({
    label,
    ns,
    stats_ms_median: med(stats),
    stats_ms: stats,
    orphaned_list_ms_median: med(orphaned),
    orphaned_list_ms: orphaned,
    queued: s.queued,
    running: s.running,
    scheduled: s.scheduled,
    orphaned: s.orphaned,
  }),
);
await c.close();

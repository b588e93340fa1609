#!/usr/bin/env node
// Bytes the NATS burn-down's worker allocates per job, by allocation site (docs/benchmarks.md,
// session 8): enqueue N no-op jobs into a fresh namespace, then sample every allocation of the
// burn-down at concurrency CONC with V8's sampling heap profiler, collected objects included
// (HeapProfiler.startSampling with includeObjectsCollectedByMajorGC/MinorGC); prints one JSON line
// (total and the TOP sites, bytes per job) and deletes the namespace. A statistical sample (one
// per INTERVAL bytes), so sites move between runs by inlining; not a timing: the load of the box
// does not change it much. What is allocated decides how often the young generation is scavenged,
// and what is still alive then (the jobs in flight) is copied and, at its second scavenge, promoted.
//   node bench/nats-alloc.mjs [dist dir, default ./dist] [label]   (N=20000 CONC=24 TOP=25 INTERVAL=4096)
// PROMOTED=1: only what was not collected by a scavenge (promoted to the old generation, or alive
// at the end): the per-job objects that live across scavenges.
import { Session } from 'node:inspector/promises';
import { prepareBurnDown } from './nats-burndown.mjs';

const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);
const TOP = Number(process.env.TOP ?? 25);
const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `alloc_${process.pid}`, { n: N, conc: CONC, label: 'alloc' });
const label = process.argv[3] ?? burn.dist;
const s = new Session();
s.connect();
await s.post('HeapProfiler.startSampling', {
  samplingInterval: Number(process.env.INTERVAL ?? 4096),
  includeObjectsCollectedByMajorGC: true,
  // PROMOTED=1: leave out what a scavenge collected, i.e. count what outlived the young generation
  includeObjectsCollectedByMinorGC: process.env.PROMOTED !== '1',
});
await burn.run();
const { profile } = await s.post('HeapProfiler.stopSampling');
const bySite = new Map();
let total = 0;
const walk = (n) => {
  const f = n.callFrame;
  const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
  total += n.selfSize;
  for (const c of n.children) walk(c);
};
walk(profile.head);
const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(
  JSON.stringify({
    label,
    ...(process.env.PROMOTED === '1' ? { promoted: true } : {}),
    bytes_job: Math.round(total / N),
    sites: Object.fromEntries(top.map(([k, v]) => [k, Math.round(v / N)])),
  }),
);
await burn.cleanup();
process.exit(0);

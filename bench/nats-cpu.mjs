#!/usr/bin/env node
// CPU per job of the NATS backend's burn-down (work phase only; docs/benchmarks.md): enqueue N no-op
// jobs into a fresh namespace, then measure process.cpuUsage() and the nats-server's utime+stime
// (/proc/<pid>/stat) around the burn-down at concurrency CONC; prints one JSON line and deletes
// the namespace. The server figure includes other clients' traffic on the same server.
//   node bench/nats-cpu.mjs [dist dir, default ./dist] [label]      (N=20000 CONC=24 JOB_EVENTS=0 ROUNDS=1)
// Compare two builds by alternating them, e.g. a `git archive <commit>` built in /tmp/base:
//   for i in 1 2; do node bench/nats-cpu.mjs /tmp/base/dist before; node bench/nats-cpu.mjs ./dist after; done
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { prepareBurnDown } from './nats-burndown.mjs';
import { natsServerCpu } from './nats-server-cpu.mjs';

const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);
// ROUNDS=n: n burn-downs one after another in this process (fresh namespaces), one line each:
// round 1 is what a fresh worker process does (bench/run.mjs), later ones show it warmed up
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const ticks = natsServerCpu();
for (let round = 1; round <= ROUNDS; round++) {
  const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `cpu_${process.pid}_${round}`, {
    n: N,
    conc: CONC,
    label: 'cpu',
  });
  const label = process.argv[3] ?? burn.dist;
  const c0 = process.cpuUsage();
  const s0 = ticks();
  const t0 = performance.now();
  await burn.run();
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const s1 = ticks();
  console.log(
    JSON.stringify({
      label,
      ...(ROUNDS > 1 ? { round } : {}),
      jobs_s: Math.round(N / ((t1 - t0) / 1000)),
      client_us_job: Math.round((c1.user + c1.system) / N),
      client_sys_us_job: Math.round(c1.system / N),
      server_us_job: Math.round((s1 - s0) / N),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }),
  );
  await burn.worker.stop();
  await burn.cleanup();
}
process.exit(0);

#!/usr/bin/env node
// CPU per job of the pg enqueue path alone (phase (a) of bench/run.mjs): ROUNDS x N jobs through
// client.enqueueMany, BATCH per call, each round into a freshly created schema. Prints one JSON
// line per round: wall jobs/s, node CPU (process.cpuUsage) and the postgres CPU of the pool's
// backends (CPU time from /proc/<pid>/schedstat; same machine as the server), per job. EXTRA_SQL
// runs after the schema is created (__S__ = the schema), e.g. to try a variant of an index.
//   node bench/pg-enqueue.mjs [dist-dir]      (default ../dist; ROUNDS=5 N=20000 BATCH=1000)
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hrtime } from 'node:process';
import pg from 'pg';
import { backendCpuUs } from './pg-server-cpu.mjs';

const dist = resolve(process.argv[2] ?? new URL('../dist', import.meta.url).pathname);
const { connect } = await import(`${dist}/index.js`);
const int = (name, dflt) => (process.env[name] ? parseInt(process.env[name], 10) : dflt);
const ROUNDS = int('ROUNDS', 5);
const N = int('N', 20000);
const BATCH = int('BATCH', 1000);
const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.SCHEMA ?? 'pgenqueue_cpu';
const nowMs = () => Number(hrtime.bigint()) / 1e6;

const admin = new pg.Client({ connectionString: url });
await admin.connect();

for (let round = 0; round < ROUNDS; round++) {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const client = await connect(url, { backend: 'pg', namespace: schema });
  await client.backend.stats({});
  if (process.env.EXTRA_SQL) await admin.query(process.env.EXTRA_SQL.replace(/__S__/g, schema));
  const us0 = await backendCpuUs(admin, schema);
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  for (let s = 0; s < N; s += BATCH) {
    const batch = [];
    for (let i = s; i < Math.min(N, s + BATCH); i++) batch.push({ name: 'noop', queue: 'bench', payload: { i, lat: false } });
    await client.enqueueMany(batch);
  }
  const wall = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const us = (await backendCpuUs(admin, schema)) - us0;
  console.log(
    JSON.stringify({
      round,
      enqueue_jobs_s: Math.round(N / (wall / 1000)),
      node_us_job: +((cpu.user + cpu.system) / N).toFixed(1),
      pg_us_job: +(us / N).toFixed(2),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }),
  );
  await client.close();
}
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await admin.end();

#!/usr/bin/env node
// Server CPU per job of the claim and complete statements themselves, exactly: ROUNDS rounds of
// one claim of B jobs then one completion of them (with one kept `completed` line each, as the
// worker sends), run as named statements on one connection whose backend's CPU time is read
// from /proc/<pid>/schedstat (ns) around each call. The first WARMUP rounds are left out (their
// plans are custom ones). Variants: EXTRA_SQL runs after the migration (__S__ = the schema),
// CLAIM_SQL / COMPLETE_SQL replace a statement's .sql file, NOKEPT=1 sends no kept lines.
// Same machine as the server; hold the heavy lock.
//   node bench/pg-statement-cpu.mjs      (N=30000 B=500 ROUNDS=60 WARMUP=10)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freshSchema, processCpuUs } from './pg-server-cpu.mjs';
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const sqlDir = new URL('../src/backends/postgres/sql/', import.meta.url);
const { connect } = await import(dist);
const env = (k, d) => +(process.env[k] ?? d);
const [N, B, ROUNDS, WARMUP] = [env('N', 30000), env('B', 500), env('ROUNDS', 60), env('WARMUP', 10)];
const schema = process.env.SCHEMA ?? 'pgstmt_cpu';
const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const { admin, client } = await freshSchema(connect, url, schema);
for (let s = 0; s < N; s += 1000)
  await client.enqueueMany(
    Array.from({ length: 1000 }, (_, i) => ({ name: 'noop', queue: 'bench', payload: { i: s + i, lat: false } })),
  );
const statement = (file, override) => readFileSync(override ?? new URL(file, sqlDir), 'utf8').replace(/__SCHEMA__/g, schema);
const claimSql = statement('claim-jobs.sql', process.env.CLAIM_SQL);
const completeSql = statement('complete-jobs.sql', process.env.COMPLETE_SQL);
const pid = (await admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
let claimUs = 0,
  completeUs = 0,
  jobs = 0;
for (let k = 0; k < ROUNDS; k++) {
  const t0 = processCpuUs(pid);
  const r = await admin.query({ name: 'claim', text: claimSql, values: [['bench'], B, 'w', 60000] });
  const t1 = processCpuUs(pid);
  const ids = JSON.parse(r.rows[0].jobs ?? '[]').map((t) => t[0]);
  const kept = process.env.NOKEPT ? [] : ids.map(() => 'completed in 0ms (attempt 1 of 5)');
  const c = await admin.query({
    name: 'complete',
    text: completeSql,
    values: [ids, ids.map(() => 1), ['w'], [null], [], [], [], [], null, kept],
  });
  const t2 = processCpuUs(pid);
  if ((c.rows[0].items ?? '').split(',').filter(Boolean).length !== ids.length) throw new Error('a completion was not recorded');
  if (k < WARMUP) continue;
  claimUs += t1 - t0;
  completeUs += t2 - t1;
  jobs += ids.length;
}
console.log(
  JSON.stringify({
    variant: process.env.V ?? null,
    jobs,
    claim_us_job: +(claimUs / jobs).toFixed(2),
    complete_us_job: +(completeUs / jobs).toFixed(2),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  }),
);
await client.close();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await admin.end();

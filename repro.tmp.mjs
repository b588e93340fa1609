import { connect } from './dist/index.js';
import { spawn } from 'node:child_process';
const ns = 'leadrq' + Date.now() % 100000;
const c = await connect('nats://127.0.0.1:4222', { backend: 'nats', namespace: ns, autoMigrate: true });
const b = c.backend;
const F = 20000;
for (let i = 0; i < F; i += 5000) {
  await c.enqueueMany(Array.from({ length: 5000 }, (_, k) => ({ name: 'p', queue: 'poison', payload: {}, maxAttempts: 1 })));
  let left = 5000;
  while (left > 0) { const got = await b.claim({ workerId: 's', queues: ['poison'], limit: 1000, leaseMs: 600000 });
    await b.fail(got.map((j) => ({ id: j.id, attempt: j.attempt, workerId: 's', error: 'x', retryDelayMs: 0, final: true }))); left -= got.length; }
}
const env = { ...process.env, JOBCTL_BACKEND: 'nats', JOBCTL_URL: 'nats://127.0.0.1:4222', JOBCTL_NAMESPACE: ns };
const p = spawn(process.execPath, ['bin/run.js', 'requeue', '--state', 'failed', '--all', '--queue', 'poison'], { env, stdio: 'inherit' });
for (;;) { const s = await b.stats({}); const q = s.queues.find((x) => x.queue === 'poison'); if (q.failed < F) { p.kill('SIGKILL'); break; } await new Promise((r) => setTimeout(r, 10)); }
await new Promise((r) => p.once('exit', r));
console.log('killed; ns', ns);
await c.close();

import type { Job } from '../../src/core/job.js';

export function makeJob(over: Partial<Job> = {}): Job {
  const t = Date.parse('2025-01-01T00:00:00Z');
  return {
    id: '1',
    queue: 'default',
    name: 'send-email',
    payload: { to: 'a@example.com' },
    priority: 0,
    state: 'queued',
    attempts: 0,
    maxAttempts: 5,
    runAt: t,
    timeoutMs: 1_800_000,
    uniqueKey: null,
    workerId: null,
    leaseExpiresAt: null,
    lastError: null,
    errors: [],
    result: null,
    progress: null,
    createdAt: t,
    startedAt: null,
    finishedAt: null,
    updatedAt: t,
    ...over,
  };
}

/**
 * jobctl as a library: enqueue and run jobs without the CLI.
 *
 *   import { connect, createWorker } from 'jobctl';
 *   const client = await connect('./.jobctl/jobs.db');
 *   const job = await client.enqueue({ name: 'send-email', payload: { to: 'a@b.c' } });
 *   const worker = createWorker({ backend: client.backend, handlers: { 'send-email': async (p, ctx) => {} } });
 *
 * The CLI is built on exactly these pieces.
 */
export { connect } from './core/client.js';
export type { JobClient, ConnectOptions } from './core/client.js';
export { createWorker, parseQueueSpec } from './worker/index.js';
export type { WorkerOptions, Worker, Handler, HandlerContext, WorkerSummary } from './worker/index.js';
export type * from './core/backend.js';
export type { Job, ClaimedJob, EnqueueInput, JobState, StateFilter, PublicJob } from './core/job.js';
export { toPublicJob, JOB_STATES } from './core/job.js';
export {
  JobctlError,
  UsageError,
  ValidationError,
  NotFoundError,
  NotSupportedError,
  UnavailableError,
  SchemaError,
  PermissionError,
  TimeoutError,
  ExitCode,
} from './core/errors.js';

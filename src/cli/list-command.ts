/**
 * Shared by `jobs list` and its shortcuts `failed`, `stuck`, `orphaned`: flags, validation,
 * one keyset-paginated backend call, output `{ jobs, next }`.
 */
import type { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import type { ListResult } from '../core/backend.js';
import { UsageError } from '../core/errors.js';
import { STATE_FILTERS, toPublicJob, validateJobName, validateQueueName, type StateFilter } from '../core/job.js';
import { BaseCommand } from './base-command.js';
import { jobsTable } from './render.js';

export const listFlags = {
  queue: Flags.string({ char: 'q', summary: 'Only jobs in this queue.', helpValue: 'Q' }),
  name: Flags.string({ char: 'n', summary: 'Only jobs with this name.', helpValue: 'N' }),
  limit: Flags.integer({ summary: 'Page size (1-1000).', default: 50, min: 1, max: 1000, helpValue: 'N' }),
  after: Flags.string({ summary: 'Continue after this job id (the "next" cursor of the previous page).', helpValue: 'ID' }),
};

/** Parse `--state a,b`: each must be a job state or a derived view (stuck, orphaned). */
export function parseStates(raw: string | undefined): StateFilter[] | undefined {
  if (raw === undefined) return undefined;
  const states = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (states.length === 0) throw new UsageError('empty --state', `use one or more of: ${STATE_FILTERS.join(', ')}`);
  for (const s of states) {
    if (!(STATE_FILTERS as readonly string[]).includes(s)) {
      throw new UsageError(`unknown state "${s}"`, `use one or more of: ${STATE_FILTERS.join(', ')}`);
    }
  }
  return [...new Set(states)] as StateFilter[];
}

export interface ListInput {
  states?: StateFilter[];
  queue?: string;
  name?: string;
  limit: number;
  after?: string;
}

export type ListOutput = { jobs: ReturnType<typeof toPublicJob>[]; next: string | null };

/** Base of the list commands: validate, list one page, print it, return the JSON shape. */
export abstract class ListCommand<T extends typeof Command> extends BaseCommand<T> {
  protected async list(input: ListInput): Promise<ListOutput> {
    if (input.queue !== undefined) validateQueueName(input.queue);
    if (input.name !== undefined) validateJobName(input.name);
    const backend = await this.openBackend({ write: false });
    const after = input.after === undefined ? undefined : backend.normalizeId(input.after);
    const result: ListResult = await backend.listJobs({
      states: input.states,
      queue: input.queue,
      name: input.name,
      limit: input.limit,
      after,
    });
    const out: ListOutput = { jobs: result.jobs.map(toPublicJob), next: result.next };
    this.print(out, () => {
      const text = jobsTable(result.jobs, Date.now());
      return result.next ? `${text}\n\nmore: --after ${result.next}` : text;
    });
    return out;
  }
}

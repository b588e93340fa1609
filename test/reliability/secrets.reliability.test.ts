/**
 * Scenario 12: a canary password never shows. For pg, redis and nats a throwaway server that
 * requires a password is started (auth-servers.ts); for sqlite (whose URLs carry no password)
 * the canary is in a Postgres URL on a closed port, as a user might mistype.
 * (a) wrong password and (b) unreachable host (a closed 127.0.0.1 port): stats, stats --json,
 *     stats --debug, trigger --json --debug, jobs list --debug, doctor --debug and
 *     work --drain --debug, each with the URL in --url and in JOBCTL_URL.
 * (c) the right password: a worker started with --debug runs an --exec job that dumps
 *     its environment, then SIGKILLs itself (JOBCTL_FAILPOINT=after-handler; URL in
 *     JOBCTL_URL, the password also in another variable); a second worker (URL in --url) rescues
 *     the job and runs it again, printing the worker's command line into the job's log. Then logs, jobs show, workers, doctor, stats (--json/--debug).
 * Pass: the canary (plain or URL-encoded) is in none of the outputs, errors, log lines and in no
 * exec child's environment; the failure runs exit non-zero with one line on stderr.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { until } from '../e2e/helpers.js';
import { startAuthServer, type AuthServer } from './auth-servers.js';
import { freePort } from './servers.js';
import { BACKENDS, cleanupBackend, report, sandbox, type BackendName } from './harness.js';

interface Seen {
  what: string;
  text: string;
}

const FAILING: string[][] = [
  ['stats'],
  ['stats', '--json'],
  ['stats', '--debug'],
  ['trigger', 'x', '--json', '--debug'],
  ['jobs', 'list', '--debug'],
  ['doctor', '--debug'],
  ['work', '--drain', '--exec', 'true', '--debug'],
];

function closedUrl(backend: BackendName, port: number, pw: string): string {
  if (backend === 'redis') return `redis://:${pw}@127.0.0.1:${port}`;
  if (backend === 'nats') return `nats://app:${pw}@127.0.0.1:${port}`;
  return `postgres://app:${pw}@127.0.0.1:${port}/db`; // sqlite: a mistyped Postgres URL
}

describe.each(BACKENDS)('scenario 12: secrets on %s', (backend) => {
  let sb: ReturnType<typeof sandbox> | undefined;
  let server: AuthServer | undefined;
  afterEach(async () => {
    sb?.cleanup();
    await server?.stop();
    server = undefined;
  });
  afterAll(() => cleanupBackend(backend));

  it('a canary password in --url or JOBCTL_URL never appears, whatever fails', async () => {
    const canary = `cnry${randomBytes(8).toString('hex')}`;
    const wrong = `cnrywrong${randomBytes(6).toString('hex')}`;
    const variants = [canary, wrong, encodeURIComponent(canary), Buffer.from(canary).toString('base64')];
    sb = sandbox(backend);
    const box = sb;
    const seen: Seen[] = [];
    const base = { JOBCTL_BACKEND: backend === 'sqlite' ? 'pg' : backend };
    delete box.env.JOBCTL_URL;
    delete box.env.JOBCTL_BACKEND;

    const failures: { case: string; form: string; cmd: string; exit: number | null }[] = [];
    const tryAll = async (kind: string, url: string) => {
      for (const form of ['--url', 'JOBCTL_URL'] as const) {
        const rs = await Promise.all(
          FAILING.map((args) =>
            box.run(form === '--url' ? [...args, '--url', url] : args, {
              env: form === '--url' ? base : { ...base, JOBCTL_URL: url },
              timeoutMs: 60_000,
            }),
          ),
        );
        rs.forEach((r, i) => {
          const cmd = FAILING[i]!.join(' ');
          failures.push({ case: kind, form, cmd, exit: r.code });
          seen.push(
            { what: `${kind} ${form} ${cmd} stdout`, text: r.stdout },
            { what: `${kind} ${form} ${cmd} stderr`, text: r.stderr },
          );
          expect(r.code, `${kind} ${form} ${cmd}: ${r.stderr}`).not.toBe(0);
          expect(r.stderr, `${kind} ${form} ${cmd}`).toMatch(/\*\*\*/);
          if (!FAILING[i]!.includes('--debug')) expect(r.stderr.trim().split('\n'), `${kind} ${form} ${cmd}`).toHaveLength(1);
        });
      }
    };

    // (b) unreachable: a closed port
    await tryAll('unreachable', closedUrl(backend, await freePort(), canary));

    let crash: Record<string, unknown> = {};
    if (backend !== 'sqlite') {
      server = await startAuthServer(backend, canary);
      // (a) wrong password
      await tryAll('wrong password', server.url(wrong));

      // (c) the right password, a worker crash, and exec children
      const url = server.url(canary);
      const dumps = join(box.dir, 'dumps');
      const script = join(box.dir, 'job.sh');
      writeFileSync(
        script,
        [
          '#!/bin/sh',
          `mkdir -p ${dumps}`,
          `env > ${dumps}/env.$JOBCTL_JOB_ID.$JOBCTL_ATTEMPT`,
          'env',
          // the worker's command line (it holds --url): printed into the job's log
          `worker=$(awk '{print $4}' /proc/$PPID/stat)`,
          `echo "parent: $(tr '\\0' ' ' < /proc/$worker/cmdline) $(tr '\\0' ' ' < /proc/$PPID/cmdline)"`,
          'echo "to stderr: $APP_DB_PASSWORD" >&2',
        ].join('\n'),
        { mode: 0o755 },
      );
      const env = { ...base, JOBCTL_URL: url };
      const trig = await box.run(['trigger', 'leaky', '--json', '--debug'], { env });
      expect(trig.code, trig.stderr).toBe(0);
      seen.push({ what: 'trigger stdout', text: trig.stdout }, { what: 'trigger stderr', text: trig.stderr });
      const id = (JSON.parse(trig.stdout) as { id: string }).id;
      // the crashing worker's log lines may die with it (buffered), so the one holding --url is the second
      const w1 = await box.run(['work', '--exec', script, '--debug', '--lease', '2s'], {
        env: { ...env, JOBCTL_FAILPOINT: 'after-handler', APP_DB_PASSWORD: canary },
        timeoutMs: 60_000,
      });
      expect(w1.signal).toBe('SIGKILL');
      seen.push({ what: 'crashed worker stdout', text: w1.stdout }, { what: 'crashed worker stderr', text: w1.stderr });
      // the second worker (URL in --url: its command line holds the password) rescues and runs the job
      const w2p = box.start(['work', '--exec', script, '--debug', '--lease', '2s', '--json', '--url', url], {
        env: { ...base, APP_DB_PASSWORD: canary },
      });
      await until(
        async () => (await box.run(['jobs', 'show', id, '--json'], { env })).stdout.includes('"completed"'),
        30_000,
        'the job to complete',
      );
      w2p.kill('SIGTERM');
      const w2 = await box.wait(w2p, 30_000);
      seen.push({ what: 'second worker stdout', text: w2.stdout }, { what: 'second worker stderr', text: w2.stderr });
      expect(w2.code, w2.stderr).toBe(0);
      const reads = [
        ['logs', id, '--json'],
        ['logs', id, '--raw'],
        ['logs', '--json', '--debug'],
        ['jobs', 'show', id, '--json', '--debug'],
        ['jobs', 'show', id],
        ['workers', '--json'],
        ['doctor', '--json', '--debug'],
        ['stats', '--debug'],
      ];
      for (const args of reads) {
        const r = await box.run(args, { env });
        seen.push({ what: `${args.join(' ')} stdout`, text: r.stdout }, { what: `${args.join(' ')} stderr`, text: r.stderr });
      }
      const envDumps = readdirSync(dumps).map((f) => ({
        what: `exec child env ${f}`,
        text: readFileSync(join(dumps, f), 'utf8'),
      }));
      seen.push(...envDumps);
      const logText = seen.find((s) => s.what === `logs ${id} --raw stdout`)!.text;
      crash = {
        workerKilled: w1.signal,
        execEnvDumps: envDumps.length,
        childHasJobctlUrl: envDumps.some((d) => /^JOBCTL_URL=/m.test(d.text)),
        childHasPasswordVar: envDumps.some((d) => /^APP_DB_PASSWORD=/m.test(d.text)),
        logMasked: /parent: .*\*\*\*/.test(logText),
      };
      // the checks below must have had something to look at
      expect(envDumps.length).toBe(2); // attempt 1 (crashed worker) and attempt 2
      for (const d of envDumps) expect(d.text).toMatch(/^JOBCTL_JOB_ID=/m);
      expect(crash.childHasJobctlUrl).toBe(false);
      expect(crash.childHasPasswordVar).toBe(false);
      expect(logText, logText.slice(0, 3000)).toMatch(/parent: .*--url/);
      expect(crash.logMasked).toBe(true);
    }

    const leaks = seen.filter((s) => variants.some((v) => s.text.includes(v))).map((s) => s.what);
    report({
      scenario: 12,
      backend,
      outputsChecked: seen.length,
      bytesChecked: seen.reduce((n, s) => n + s.text.length, 0),
      failureRuns: failures.length,
      exits: [...new Set(failures.map((f) => `${f.case}:${f.exit}`))],
      crash,
      leaks,
    });
    expect(leaks).toEqual([]);
  });
});

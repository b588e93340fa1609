/**
 * A throwaway nats-server with a configuration of the test's own (accounts, users, limits), on a
 * free 127.0.0.1 port in a temp dir: for what the shared server on 4222 has no setting for. It is
 * killed and its dir removed by the returned `stop` (call it from afterAll); `reload` applies a
 * new configuration to the running server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../reliability/servers.js';

/** `config`: everything but `listen` and the JetStream store dir; `env`: what `$VAR`s in it read. */
export async function configuredServer(
  config: string,
  env: Record<string, string> = {},
): Promise<{ port: number; stop: () => void; reload: (config: string) => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'jobctl-nats-conf-'));
  const port = await freePort();
  const write = (c: string) =>
    writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n${c}\n`);
  write(config);
  const child = spawn('/usr/sbin/nats-server', ['-c', join(dir, 'nats.conf')], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const c = tcp(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => (c.destroy(), r(false)));
    });
    if (up) break;
    if (i > 100 || child.exitCode !== null) {
      stop();
      throw new Error('nats-server did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // a new configuration, applied by the running server (SIGHUP: permissions of connected clients too)
  const reload = (c: string) => {
    write(c);
    child.kill('SIGHUP');
  };
  return { port, stop, reload };
}

/**
 * Connecting without leaving a socket behind. When the server accepts the TCP connection but does
 * not answer in time (a busy or stalled server), the client library's connect() rejects with a
 * timeout but keeps the socket open: it waits for the server's INFO and, once that comes, stays
 * connected with nobody reading it, which keeps the process alive (a CLI command lingered 20+ s
 * after it had finished). The sockets a failed connect() opened are found through Node's
 * `net.client.socket` diagnostics channel and destroyed.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';

const CHANNEL = 'net.client.socket';

/** Connect attempts of this process run one at a time, so that the sockets seen are this attempt's. */
let turn: Promise<unknown> = Promise.resolve();

export function dial(opts: ConnectionOptions): Promise<NatsConnection> {
  const attempt = turn.then(() => dialOnce(opts));
  turn = attempt.catch(() => undefined);
  return attempt;
}

async function dialOnce(opts: ConnectionOptions): Promise<NatsConnection> {
  const opened: Socket[] = [];
  const seen = (m: unknown) => {
    const s = (m as { socket?: Socket }).socket;
    if (s) opened.push(s);
  };
  subscribe(CHANNEL, seen);
  try {
    return await connect(opts);
  } catch (e) {
    // only sockets to the servers asked for (another client of this process may be connecting)
    const ports = new Set(serverList(opts).map((hp) => Number(/:(\d+)$/.exec(hp)?.[1] ?? 4222)));
    for (const s of opened) if (s.remotePort !== undefined && ports.has(s.remotePort)) s.destroy();
    throw e;
  } finally {
    unsubscribe(CHANNEL, seen);
  }
}

function serverList(opts: ConnectionOptions): string[] {
  const s = opts.servers ?? [];
  return typeof s === 'string' ? [s] : s;
}

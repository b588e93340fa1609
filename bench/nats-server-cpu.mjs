// CPU time of the local nats-server (the one on 127.0.0.1:4222), for the NATS CPU-per-job scripts
// (nats-cpu.mjs, nats-bare-cpu.mjs): its pid found once, user + system time read from /proc.
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { statTicks } from './thread-cpu.mjs';

/** A function returning the nats-server's CPU time so far, in µs (USER_HZ 100). */
export function natsServerCpu() {
  const pid = execSync('pgrep -f "^[^ ]*nats-server .*-p 4222"').toString().trim().split('\n')[0];
  return () => {
    return (statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / 100) * 1e6;
  };
}

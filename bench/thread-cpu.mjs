// CPU of this process split by thread (bench/nats-threads.mjs, bench/nats-bare-cpu.mjs): the main
// (JavaScript) thread and the others together (V8's compile and GC threads, libuv), from
// /proc/self/task. `const t = threadCpu(); …; t.perJob(n)` gives µs per job of each since then.
// statTicks reads one stat file (nats-server-cpu.mjs uses it for the server's process too).
import { readFileSync, readdirSync } from 'node:fs';

const TICK_US = 1e6 / 100; // USER_HZ

/** CPU ticks (user + system, USER_HZ) in the text of a /proc/<pid>[/task/<tid>]/stat file. */
export function statTicks(stat) {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** CPU ticks of each of this process's threads, by thread id. */
function threadTicks() {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    out.set(tid, statTicks(stat));
  }
  return out;
}

/** Start counting; `perJob(n)`: µs of CPU per job since then, of the main thread and of the rest. */
export function threadCpu() {
  const before = threadTicks();
  return {
    perJob(n) {
      let main = 0;
      let helpers = 0;
      for (const [tid, ticks] of threadTicks()) {
        const d = ticks - (before.get(tid) ?? 0);
        if (tid === String(process.pid)) main += d;
        else helpers += d;
      }
      return { main_us_job: Math.round((main * TICK_US) / n), helpers_us_job: Math.round((helpers * TICK_US) / n) };
    },
  };
}

/**
 * One cgroup (v2) per `--exec` attempt, where the machine lets us: every process the command
 * starts stays in it whatever it does — setsid(), double fork, `env -i`, another user — so the
 * kill at the end of the attempt reaches all of them (`cgroup.kill`, Linux ≥ 5.14), which the
 * process group and the environment marker (marked-procs.ts) cannot promise.
 *
 * Usable when: Linux, a cgroup2 hierarchy is mounted (pure v2 at /sys/fs/cgroup, or the
 * "unified" one of a hybrid layout), the worker may create a directory in its own cgroup there
 * (root, or a delegated cgroup) and `cgroup.kill` exists. Then the worker makes
 * `<its cgroup>/jobctl-<pid>/` (while attempts run) and one child per attempt; the shell that runs the command
 * moves itself in before it execs the command (so nothing it starts is ever outside). When any
 * of this fails, nothing changes: the process group and the marker are all there is.
 * Only the v2 hierarchy is used (no controllers are enabled, so no limits are set and a cgroup
 * with processes may have children).
 */
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';

export interface AttemptCgroup {
  /** the cgroup.procs file the command's shell writes its pid to */
  readonly procsFile: string;
  /** pids in it now */
  pids(): number[];
  /** signal every process in it; true when there was one */
  signal(signal: NodeJS.Signals): boolean;
  /** SIGKILL everything in it (cgroup.kill) */
  kill(): void;
  /** remove it once empty (retried briefly: killed processes leave asynchronously) */
  remove(): void;
}

/** whether attempt cgroups can be made here (probed once) */
let usable: boolean | undefined;
let parentDir: string | null | undefined;
/** attempt cgroups made and not removed yet: the parent goes when the last one does */
let live = 0;
/** attempt cgroups whose removal is pending (their killed processes were still leaving) */
const pending = new Set<string>();
let exitHook = false;

/** At exit (a CLI worker exits right after its last job): remove what the retries did not. */
function removeAtExit(): void {
  // killed processes leave their cgroup within milliseconds: wait up to ~200 ms for them
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 20 && pending.size > 0; i++) {
    for (const dir of [...pending]) {
      try {
        rmdirSync(dir);
        pending.delete(dir);
      } catch {
        // not empty yet
      }
    }
    if (pending.size > 0) Atomics.wait(nap, 0, 0, 10);
  }
  try {
    if (parentDir) rmdirSync(parentDir);
  } catch {
    // not empty, or gone
  }
}

/** The v2 cgroup this process is in, as a directory; null when there is none. */
function ownCgroupDir(): string | null {
  const self = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (self === undefined) return null;
  const rel = self.slice(3);
  // mountinfo: id parent major:minor root mountpoint options … - fstype source superoptions
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || !post.startsWith('cgroup2 ')) continue;
    const f = pre.split(' ');
    const root = f[3]!;
    const mount = f[4]!.replace(/\\040/g, ' ');
    // the mount shows the hierarchy from `root` down
    if (root !== '/' && rel !== root && !rel.startsWith(`${root}/`)) continue;
    const dir = join(mount, root === '/' ? rel : rel.slice(root.length));
    if (existsSync(join(dir, 'cgroup.procs'))) return dir;
  }
  return null;
}

/** `<own cgroup>/jobctl-<pid>`: where this worker's attempt cgroups go (null: no cgroup2 here). */
export function cgroupParentPath(): string | null {
  if (parentDir !== undefined) return parentDir;
  parentDir = null;
  if (process.platform !== 'linux') return parentDir;
  try {
    const own = ownCgroupDir();
    if (own !== null) parentDir = join(own, `jobctl-${process.pid}`);
  } catch {
    // no /proc
  }
  return parentDir;
}

/**
 * Empty cgroups of jobctl workers that are gone (SIGKILLed, or exited while a killed process was
 * still leaving): removed, so that they do not pile up. A cgroup with processes cannot be removed
 * (rmdir fails) and is left alone, as is the one of a live pid.
 */
function sweepStale(own: string): void {
  for (const name of readdirSync(own)) {
    const m = /^jobctl-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // alive
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const dir = join(own, name);
    try {
      for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) rmdirSync(join(dir, child.name));
      rmdirSync(dir);
    } catch {
      // still in use
    }
  }
}

/**
 * Can this process put its exec attempts in cgroups (see the top)? Probed once, by making the
 * parent cgroup (removed again while no attempt runs). JOBCTL_NO_CGROUPS=1 turns them off.
 */
export function cgroupsUsable(): boolean {
  if (usable !== undefined) return usable;
  usable = false;
  const dir = cgroupParentPath();
  if (dir === null || process.env.JOBCTL_NO_CGROUPS === '1') return usable;
  try {
    mkdirSync(dir, { recursive: true });
    try {
      accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
      usable = existsSync(join(dir, 'cgroup.kill'));
    } finally {
      if (live === 0) rmdirSync(dir);
    }
    if (usable) sweepStale(dirname(dir));
  } catch {
    usable = false;
  }
  return usable;
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** A new, empty cgroup for one attempt; null when cgroups are not usable here. */
export function attemptCgroup(): AttemptCgroup | null {
  if (!cgroupsUsable()) return null;
  const p = cgroupParentPath()!;
  const dir = join(p, randomUUID());
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return null;
  }
  live++;
  if (!exitHook) {
    exitHook = true;
    process.once('exit', removeAtExit);
  }
  const procsFile = join(dir, 'cgroup.procs');
  const pids = () => readPids(procsFile);
  let removed = false;
  return {
    procsFile,
    pids,
    signal(signal) {
      let any = false;
      for (const pid of pids()) {
        try {
          process.kill(pid, signal);
          any = true;
        } catch {
          // gone meanwhile
        }
      }
      return any;
    },
    kill() {
      try {
        writeFileSync(join(dir, 'cgroup.kill'), '1');
      } catch {
        // removed already
      }
    },
    remove() {
      if (removed) return;
      removed = true;
      let tries = 0;
      const attempt = () => {
        try {
          rmdirSync(dir);
          pending.delete(dir);
        } catch {
          pending.add(dir);
          if (++tries < 50) return void setTimeout(attempt, 100).unref();
        }
        // the last one takes the worker's parent cgroup along (made again when needed)
        if (--live === 0) {
          try {
            rmdirSync(p);
          } catch {
            // an attempt cgroup that could not be removed is still in it
          }
        }
      };
      attempt();
    },
  };
}

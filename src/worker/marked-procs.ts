/**
 * Finding an `--exec` job's processes that left its process group (a grandchild that called
 * setsid(), a daemonising tool): each attempt's command gets a unique, non-secret marker in its
 * environment (MARKER_VAR), inherited by everything it starts; on Linux, /proc/<pid>/environ of
 * the processes of our own user shows who carries it. A process that replaced its environment
 * (`env -i`, execve with a new env) or runs as another user is not found here: the attempt's
 * cgroup follows it where cgroups are usable (job-cgroup.ts). Elsewhere (no /proc) nothing is
 * found and the process-group kill is all there is.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';

export const MARKER_VAR = 'JOBCTL_EXEC_MARKER';

/** A fresh marker for one attempt. */
export const newMarker = (): string => randomUUID();

/** The pids of our user's live processes whose environment carries `MARKER_VAR=marker`. */
export function markedProcesses(marker: string): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const needle = Buffer.from(`\0${MARKER_VAR}=${marker}\0`);
  const first = needle.subarray(1);
  const out: number[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      if (uid !== undefined && statSync(`/proc/${name}`).uid !== uid) continue;
      const env = readFileSync(`/proc/${name}/environ`);
      if (env.indexOf(needle) >= 0 || env.subarray(0, first.length).equals(first)) out.push(pid);
    } catch {
      // gone meanwhile, or not readable (a zombie has an empty environ)
    }
  }
  return out;
}

/** Send `signal` to every process carrying the marker; returns how many were signalled. */
export function signalMarked(marker: string, signal: NodeJS.Signals): number {
  let n = 0;
  for (const pid of markedProcesses(marker)) {
    try {
      process.kill(pid, signal);
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

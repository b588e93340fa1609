/** /proc readers for the reliability scenarios (Linux only). */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** Every live (non-zombie) process with its group and session. */
export function listProcs(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    const p = {
      pid: Number(d),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      state: f[0]!,
      ppid: Number(f[1]),
      pgrp: Number(f[2]),
      session: Number(f[3]),
    };
    if (p.state !== 'Z' && p.state !== 'X') out.push(p);
  }
  return out;
}

/** Live processes whose process group or session is `id` (an exec job's leader pid). */
export function groupOrSession(id: number): ProcStat[] {
  return listProcs().filter((p) => p.pgrp === id || p.session === id);
}

/** Resident set size of a process in KiB (VmRSS), or null when it is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// /proc readings for one process: resident memory and CPU time (user + system, all threads).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let tck: number | undefined;
/** Clock ticks per second for /proc/<pid>/stat times (100 on Linux, asked once). */
export function clockTicks(): number {
  if (tck === undefined) {
    try {
      tck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tck = 100;
    }
  }
  return tck;
}

/** kB fields of /proc/<pid>/status (VmRSS, VmHWM, ...). */
export function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** utime + stime of /proc/<pid>/stat in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat; f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

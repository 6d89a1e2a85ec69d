/**
 * What the kernel says about another process (Linux /proc): CPU time, split between
 * the main thread and the rest, and memory.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in clock ticks of 1/100 s on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) in µs. */
export interface CpuSample {
  /** All threads, including threads that have exited (the process's own stat counts them). */
  totalUs: number;
  /** The main thread alone: the task whose id is the pid (for Node, the JavaScript thread). */
  mainUs: number;
}

/** utime + stime of one /proc stat file, in µs (10 ms resolution). */
function statCpuUs(path: string): number {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const text = readFileSync(path, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5); f[0] is field 3 (state).
  return ((Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND) * 1e6;
}

export function processCpu(pid: number): CpuSample {
  return { totalUs: statCpuUs(`/proc/${pid}/stat`), mainUs: statCpuUs(`/proc/${pid}/task/${pid}/stat`) };
}

/** Resident memory in KiB: now (VmRSS) and the peak since the process started (VmHWM). */
export function memoryKib(pid: number): { rssKib: number; hwmKib: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKib: field('VmRSS'), hwmKib: field('VmHWM') };
}

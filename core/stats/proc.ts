import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Memory of a process in bytes. `uss`/`pss` are 0 unless asked for (they cost a smaps read). */
export interface ProcessMemory {
  readonly rss: number;
  readonly vsz: number;
  readonly uss: number;
  readonly pss: number;
}

const PAGE = 4096;
const NONE: ProcessMemory = { rss: 0, vsz: 0, uss: 0, pss: 0 };

function fromStatm(text: string): ProcessMemory {
  const sp = text.indexOf(' ');
  const sp2 = text.indexOf(' ', sp + 1);
  return {
    vsz: Number(text.slice(0, sp)) * PAGE,
    rss: Number(text.slice(sp + 1, sp2)) * PAGE,
    uss: 0,
    pss: 0,
  };
}

/** `Pss:` and the private lines of /proc/PID/smaps_rollup, bytes (Linux ≥ 4.14). */
function fromSmapsRollup(text: string, base: ProcessMemory): ProcessMemory {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { ...base, pss: kb('Pss'), uss: kb('Private_Clean') + kb('Private_Dirty') };
}

/**
 * Memory of `pid` from /proc, synchronously (a few µs: used on the request-log path only when the
 * format asks for memory). All zeros when the process is gone or /proc is unreadable.
 */
export function processMemorySync(pid: number, extra = false): ProcessMemory {
  try {
    const base = fromStatm(readFileSync(`/proc/${pid}/statm`, 'utf8'));
    return extra ? fromSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), base) : base;
  } catch {
    return NONE;
  }
}

/** Memory of `pid` from /proc, without blocking the event loop (stats and metrics scrapes). */
export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  try {
    return fromStatm(await readFile(`/proc/${pid}/statm`, 'utf8'));
  } catch {
    return NONE;
  }
}

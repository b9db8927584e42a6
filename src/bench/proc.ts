// CPU and memory accounting from /proc, so a benchmark can say what decent cost and whether
// something else on the machine was competing with it (proc(5)).
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc tick counts; 100 on every Linux ABI we run on. */
const HZ = 100;

/** utime + stime of a process (all its threads), in seconds; undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / HZ : undefined;
}

/** Fields of /proc/PID/stat after the command name, so f[0] is the state (field 3 in proc(5)). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: split after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), or undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy time of all CPUs in process context (user + nice + system), seconds. Interrupt and
 *  softirq time is left out: during a benchmark it is mostly our own packets being forwarded,
 *  and the kernel charges it to no process. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]; // "cpu  user nice system idle ..."
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return (v[0] + v[1] + v[2]) / HZ;
}

/** CPU time of this process and of every child it has reaped (cutime/cstime), seconds. */
function selfAndReapedSeconds(): number {
  const f = statFields('self');
  if (!f) return 0;
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / HZ;
}

/** The kernel threads that run softirq work when it backs up: that is our traffic too. */
function softirqThreadPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').startsWith('ksoftirqd/')) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Snapshot { t: number; busy: number; ours: number; pids: Map<number, number> }

/**
 * Measures one interval: CPU seconds of each watched process, and how much CPU *other*
 * processes used meanwhile (machine busy time minus this process tree and ksoftirqd).
 *
 * Every process a benchmark starts is a direct child of this one (`ip netns exec` execs the
 * command in place), so "ours" = this process + reaped children (cutime) + live children. A child
 * reaped during the interval moves from the live sum to cutime without being counted twice:
 * Node reaps only from its event loop, never during the synchronous snapshot.
 */
export class CpuWindow {
  private readonly start: Snapshot;
  private readonly softirq = softirqThreadPids();

  /** `children`: live child PIDs to account (decent, iperf3, packet generators). */
  constructor(private readonly children: () => readonly number[]) {
    this.start = this.snapshot();
  }

  private snapshot(): Snapshot {
    const pids = new Map<number, number>();
    let ours = selfAndReapedSeconds();
    for (const pid of [...this.children(), ...this.softirq]) {
      const s = processCpuSeconds(pid);
      if (s === undefined) continue;
      pids.set(pid, s);
      ours += s;
    }
    return { t: performance.now(), busy: machineBusySeconds(), ours, pids };
  }

  /** Ends the interval. `perPid` holds the CPU seconds each watched PID used in it. */
  finish(): { wallSeconds: number; otherCpuPct: number; perPid: Map<number, number> } {
    const end = this.snapshot();
    const wall = (end.t - this.start.t) / 1000;
    // A child that started after the snapshot counts from 0; one that ended is in cutime.
    const startOurs = this.start.ours;
    const other = Math.max(0, end.busy - this.start.busy - (end.ours - startOurs));
    const perPid = new Map<number, number>();
    for (const [pid, s] of end.pids) perPid.set(pid, s - (this.start.pids.get(pid) ?? 0));
    return { wallSeconds: wall, otherCpuPct: wall > 0 ? (100 * other) / wall : 0, perPid };
  }
}

/**
 * What the scheduler did inside a window (a switchover's downtime), from
 * host/sched-trace.ts's records: how long each role's threads ran, and how
 * long each event loop was runnable — woken, or preempted while runnable —
 * without a CPU. Roles come from the VMMs' own x-vmig-query-threads (the
 * event loop, the vCPUs, V8's and Node's helpers); any other thread is
 * "other", the idle task "idle".
 */

import type { SchedRecord } from '../host/index.js';

export interface SchedSummary {
  /** ms each role's threads ran inside the window, summed over CPUs. */
  ran: Record<string, number>;
  /** ms each role's threads were runnable but not running inside the window (a role of several threads: summed). */
  waited: Record<string, number>;
}

const clip = (a: number, b: number, from: number, to: number): number => Math.max(0, Math.min(b, to) - Math.max(a, from));

/**
 * `records` in time order (ftrace's merged output), covering some time
 * before `fromMs` (a CPU's thread at the window's start is the one its first
 * switch after it leaves). `roles`: thread id → role.
 */
export function summarizeSched(records: readonly SchedRecord[], fromMs: number, toMs: number, roles: ReadonlyMap<number, string>): SchedSummary {
  const role = (tid: number) => (tid === 0 ? 'idle' : (roles.get(tid) ?? 'other'));
  const ran: Record<string, number> = {};
  const waited: Record<string, number> = {};
  const add = (into: Record<string, number>, key: string, ms: number) => {
    if (ms > 0) into[key] = (into[key] ?? 0) + ms;
  };
  // Per CPU: who runs since when (unknown until its first switch).
  const running = new Map<number, { tid: number; since: number }>();
  // Per thread: runnable without a CPU since when.
  const runnableSince = new Map<number, number>();
  for (const r of records) {
    if (r.kind === 'wakeup') {
      if (!runnableSince.has(r.tid)) runnableSince.set(r.tid, r.timeMs);
      continue;
    }
    const cur = running.get(r.cpu);
    // The thread leaving ran from the last switch on this CPU (or from before the records: counted from the window's start).
    add(ran, role(r.prevTid), clip(cur?.since ?? fromMs, r.timeMs, fromMs, toMs));
    if (r.prevState.startsWith('R') && r.prevTid !== 0) runnableSince.set(r.prevTid, r.timeMs);
    const since = runnableSince.get(r.nextTid);
    if (since !== undefined) {
      add(waited, role(r.nextTid), clip(since, r.timeMs, fromMs, toMs));
      runnableSince.delete(r.nextTid);
    }
    running.set(r.cpu, { tid: r.nextTid, since: r.timeMs });
  }
  // What still runs, or still waits, at the window's end.
  for (const { tid, since } of running.values()) add(ran, role(tid), clip(since, toMs, fromMs, toMs));
  for (const [tid, since] of runnableSince) if (tid !== 0) add(waited, role(tid), clip(since, toMs, fromMs, toMs));
  return { ran, waited };
}

/**
 * The process's helper threads — V8's platform workers (its optimizing
 * compiler, its concurrent GC) and Node's own — parked in SCHED_IDLE while a
 * switchover runs.
 *
 * Why: a kernel trace of the switchover (sched_switch, docs/BENCHMARKS.md)
 * showed V8's compiler threads running for milliseconds inside the downtime,
 * optimising what the stop had just made hot. On two cores each such
 * millisecond is a CPU taken from the source's or the destination's event
 * loop — once the destination's, mid-load, while the other core sat idle. In
 * SCHED_IDLE they run only on a CPU nobody else wants, and the code they
 * compile is an optimisation: the event loop runs the code it has meanwhile.
 *
 * Which threads: those that existed before vmig's own code started any —
 * `bin/vmig.js` lists /proc/self/task at its first line, before the vCPU
 * threads exist. Going back from SCHED_IDLE needs CAP_SYS_NICE, so without
 * it nothing is changed (the helpers would stay idle for good).
 *
 * The window opens inside the downtime: parking and restoring are a few
 * system calls with no file read, regular expression or exception on the way
 * (a first version read /proc/self/status there, and the destination's trace
 * showed it). setHelperThreads does that work, and runs the path once.
 */

import { readFileSync } from 'node:fs';

import { native } from './native.js';

export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;

/** CAP_SYS_NICE's bit in /proc/self/status's CapEff. */
const CAP_SYS_NICE = 23n;

let helpers: readonly number[] = [];
let capable = false;

function hasCapSysNice(): boolean {
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return line !== null && ((BigInt(`0x${line[1]}`) >> CAP_SYS_NICE) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** A thread's scheduling policy (SCHED_*), or undefined when it is not a thread of this process (any more). */
export function threadPolicy(tid: number): number | undefined {
  const p = native().threadPolicy(tid);
  return p < 0 ? undefined : p;
}

/**
 * Record the helper threads: `tids` as listed before vmig started a thread,
 * less the main thread and those gone since. With CAP_SYS_NICE, parks and
 * restores them once, so the window's first use runs warm.
 */
export function setHelperThreads(tids: readonly number[]): void {
  capable = hasCapSysNice();
  helpers = tids.filter((t) => Number.isInteger(t) && t > 0 && t !== process.pid && threadPolicy(t) !== undefined);
  idleHelperThreads()?.();
}

export function helperThreads(): readonly number[] {
  return helpers;
}

/**
 * Park the helper threads in SCHED_IDLE. Returns the function that puts each
 * back to the policy it had (once), or undefined when nothing was changed (no
 * helpers, no CAP_SYS_NICE to undo it, or all idle already). A helper that
 * has exited, or runs under a realtime policy, is left alone.
 */
export function idleHelperThreads(): (() => void) | undefined {
  if (helpers.length === 0 || !capable) return undefined;
  const n = native();
  const parked: number[] = [];
  for (const tid of helpers) {
    const before = n.setThreadPolicy(tid, SCHED_IDLE);
    if (before === SCHED_OTHER || before === SCHED_BATCH) parked.push(tid, before);
  }
  if (parked.length === 0) return undefined;
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    for (let i = 0; i < parked.length; i += 2) n.setThreadPolicy(parked[i]!, parked[i + 1]!);
  };
}

/**
 * The calling thread's scheduling: its time slice (EEVDF's per-task slice,
 * Linux 6.12+: sched_setattr's sched_runtime for SCHED_OTHER) and its nice
 * value.
 */

import { getPriority, setPriority } from 'node:os';

import { native } from './native.js';

/**
 * Ask for a `sliceUs` time slice (the kernel clamps it to 100 µs..100 ms). A
 * thread with a shorter slice than the others wakes with an earlier virtual
 * deadline and preempts them at once instead of waiting out the running
 * thread's slice (1.4 ms by default on a 2-core host), without getting a
 * larger share of the CPU. Returns the slice now in force (µs), or undefined
 * where the kernel has no per-task slice: the thread keeps the default.
 */
export function requestThreadSlice(sliceUs: number): number | undefined {
  if (!Number.isInteger(sliceUs) || sliceUs < 100 || sliceUs > 100_000) throw new RangeError(`slice ${sliceUs} µs is not an integer in 100..100000`);
  try {
    return native().setThreadSlice(sliceUs);
  } catch {
    return undefined;
  }
}

/**
 * Set the calling thread's nice value (-20..19): setpriority(2) on its own
 * thread id (Linux keeps a nice value per thread; its slice is kept).
 * Returns the nice value it had, or undefined when the kernel refused
 * (lowering it needs CAP_SYS_NICE): the thread keeps what it had.
 */
export function setThreadNice(nice: number): number | undefined {
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new RangeError(`nice ${nice} is not an integer in -20..19`);
  try {
    const before = getPriority();
    setPriority(nice);
    return before;
  } catch {
    return undefined;
  }
}

/**
 * Lower the calling thread's nice value to `nice` if it is above it (a
 * higher priority, never a lower one). Returns the value to put back with
 * setThreadNice — always allowed, since that raises it again — or undefined
 * when nothing changed (already at `nice` or below, or refused).
 */
export function raiseThreadPriority(nice: number): number | undefined {
  if (getPriority() <= nice) return undefined;
  return setThreadNice(nice);
}

/**
 * Scheduling priority of the calling thread. On Linux a nice value belongs to
 * a thread, not a process (setpriority(PRIO_PROCESS, 0, n) from a thread
 * changes only that thread), so a vCPU worker can step back behind the VMM's
 * event-loop thread without touching it.
 */

import { setPriority } from 'node:os';

/**
 * Lower the calling thread's priority to `nice` (0–19; raising the value never
 * needs privileges). Returns false where the OS refuses; the thread then
 * simply keeps its priority.
 */
export function lowerThreadPriority(nice: number): boolean {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`nice value ${nice} is not an integer in 0..19`);
  try {
    setPriority(0, nice);
    return true;
  } catch {
    return false;
  }
}

/**
 * The calling thread's Linux thread id (what `ps -L`, `taskset -p`, `chrt`
 * and ftrace call a pid). Node has no API for it; /proc/thread-self names it
 * from inside the thread. A vCPU worker records its own at start, so QMP's
 * query-cpus-fast can report `thread-id` as QEMU does (to pin a vCPU with
 * taskset, or to read a kernel trace).
 */

import { readlinkSync } from 'node:fs';

/** The calling thread's id, or undefined where /proc has no thread-self. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

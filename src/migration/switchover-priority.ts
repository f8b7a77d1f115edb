/**
 * The event-loop thread's priority through a switchover. On a host whose
 * cores are shared with the guests' vCPU threads, every step of the stop,
 * the load and the resumed guest's first packets is a wake-up of this
 * thread, and each waited for a vCPU thread to give up a CPU. A lower nice
 * value (a larger weight) makes it win those wake-ups; it is raised only
 * between the source's stop and the destination's SHUT (source), and
 * between the final pages' arrival and the bookkeeping after "running"
 * (destination) — milliseconds in which the guest is stopped, or this
 * thread is what it waits for. Needs CAP_SYS_NICE; without it, nothing
 * changes.
 */

import { setThreadNice } from '../host/index.js';

/**
 * Two 12-run A/B pairs of bench:migrate (session 5): probe gap − downtime
 * 15.4 / 14.1 ms at -10 against 15.9 / 18.1 ms at 0; downtime 6.9 / 6.9
 * against 7.1 / 7.5 ms; the first frame read after "running" 2.7 / 2.9 ms
 * against 4.4 / 3.7 ms.
 */
export const SWITCHOVER_NICE = -10;

/** Raise this thread's priority; the function returned puts it back (once). */
export function raiseSwitchoverPriority(): () => void {
  const before = setThreadNice(SWITCHOVER_NICE);
  let restored = before === undefined;
  return () => {
    if (restored) return;
    restored = true;
    setThreadNice(before!);
  };
}

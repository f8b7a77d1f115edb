/**
 * The switchover window: on the source from its stop to the destination's
 * SHUT, on the destination from "running" to the bookkeeping 20 ms later —
 * milliseconds in which the guest is stopped, or its first packets wait on
 * the VMM thread. Inside it:
 *
 * - The event-loop thread runs at a higher priority (nice -10, or its own if
 *   that is higher already). On a host whose cores
 *   are shared with the guests' vCPU threads, every step of the stop, the
 *   load and the first packets is a wake-up of this thread, and each waited
 *   for a vCPU thread to give up a CPU. A lower nice value (a larger weight)
 *   makes it win those wake-ups. Only here: in pre-copy a busier VMM thread
 *   would starve the guest. Needs CAP_SYS_NICE; without it, nothing changes.
 *   Linux keeps a nice value per thread: the vCPU threads are not touched.
 * - V8's and Node's helper threads (its optimizing compiler, its concurrent
 *   GC) wait in SCHED_IDLE: they run only on a CPU that neither VMM's event
 *   loop nor a vCPU wants (host/helper-threads.ts has the trace that showed
 *   them in the downtime). Also CAP_SYS_NICE only.
 * - QMP events (MIGRATION "device", STOP, RESUME) are queued, with the
 *   timestamps of the moments they were raised, and sent when it closes:
 *   formatting and writing each, and waking its client, cost ~0.3 ms of
 *   this thread inside the downtime.
 */

import { idleHelperThreads, raiseThreadPriority, setThreadNice } from '../host/index.js';
import type { MigratableVm } from './migration-types.js';

/**
 * Measured with bench:migrate (session 5): two 12-run A/B pairs, probe gap −
 * downtime 15.4 / 14.1 ms at -10 against 15.9 / 18.1 ms at 0; and, with the
 * events held too, an interleaved A/B (8 runs per pairing): the source's
 * last write 1.9 ms after its stop against 3.4–3.5 ms, the destination's
 * first echo 5.2–6.3 ms after "running" against 7.2–7.5 ms. Opened on the
 * destination at the final pages instead, the priority change itself cost
 * ~0.5 ms of downtime.
 */
export const SWITCHOVER_NICE = -10;

/**
 * The longest a window stays open: a switchover takes milliseconds, but the
 * source's wait for SHUT has no deadline of its own (a stalled destination
 * is for the user to cancel), and events and the priority must not be
 * withheld that long.
 */
export const SWITCHOVER_WINDOW_MAX_MS = 250;

/** Raise this thread's priority (never lower it); the function returned puts it back (once). */
export function raiseSwitchoverPriority(): () => void {
  const before = raiseThreadPriority(SWITCHOVER_NICE);
  let restored = before === undefined;
  return () => {
    if (restored) return;
    restored = true;
    setThreadNice(before!);
  };
}

/**
 * Open the window; the function returned closes it (once): the priority
 * restored, the queued events sent. It closes by itself after
 * SWITCHOVER_WINDOW_MAX_MS.
 */
export function openSwitchoverWindow(vm: Pick<MigratableVm, 'holdEvents'>): () => void {
  const restorePriority = raiseSwitchoverPriority();
  const restoreHelpers = idleHelperThreads();
  const releaseEvents = vm.holdEvents();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(deadline);
    restorePriority();
    restoreHelpers?.();
    releaseEvents();
  };
  const deadline = setTimeout(close, SWITCHOVER_WINDOW_MAX_MS);
  deadline.unref();
  return close;
}

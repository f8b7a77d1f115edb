/**
 * The CPU wake-up latency a migrating VMM asks of its host
 * (x-vmig-cpu-latency; host/cpu-latency.ts has why and the figures): the
 * source from `migrate` to its end, the destination from the accepted
 * connection to its end. Held for the whole migration, not just the
 * switchover: asked for at the stop, the request's own wake-up of every idle
 * CPU fell inside the downtime, and a destination cannot know when the
 * source stops before the final pages reach it.
 */

import { CpuLatencyRequest } from '../host/index.js';

/** What query-migrate reports (x-vmig `cpu-latency`): the value asked, and whether the host granted it for this migration. */
export interface CpuLatencyReport {
  'requested-us': number;
  held: boolean;
}

export interface CpuLatencyHold {
  /** Undefined when the parameter asked for nothing (-1). */
  readonly report: CpuLatencyReport | undefined;
  /** Drop the request (once). */
  release(): void;
}

/** Ask for at most `maxUs` µs (-1: ask nothing). Without the right to (not root) the report says `held: false`. */
export function holdMigrationCpuLatency(maxUs: number): CpuLatencyHold {
  if (maxUs < 0) return { report: undefined, release: () => undefined };
  const req = CpuLatencyRequest.hold(maxUs);
  const report: CpuLatencyReport = { 'requested-us': maxUs, held: req !== undefined };
  return {
    report,
    release() {
      req?.close();
    },
  };
}

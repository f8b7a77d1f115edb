/**
 * V8 drops the bytecode of functions that have not run for a while (after a
 * few garbage collections) and compiles them again on their next call. A
 * VMM's migration paths run rarely — a destination warms them, runs for
 * seconds, and only then is a migration source — and recompiling them then
 * blocked the event loop, which is also the guest's NIC, for 15–30 ms at the
 * start of a migration (the vmm_loop_stall trace, docs/BENCHMARKS.md). The
 * flag is process-wide (the vCPU threads' guest code keeps its bytecode too)
 * and read by V8 at every GC, so setting it at start is enough.
 */

import { setFlagsFromString } from 'node:v8';

export function keepCompiledCode(): void {
  setFlagsFromString('--no-flush-bytecode');
}

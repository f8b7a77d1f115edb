/**
 * `vmig run …`: start one VM from a QEMU-shaped command line (DESIGN §7) and
 * keep it running until `quit`, SIGINT or SIGTERM. A bad option is one line
 * naming it, exit 1.
 */

import { describeError, monotonicMs, processStartMs, setTraceState, trace, traceEnabled } from '../core/index.js';
import { GUEST_KERNEL_URL, VcpuThread } from '../guest/index.vmm.js';
import { setHelperThreads } from '../host/index.vmm.js';
import type { Vm, VmConfig } from '../machine/index.js';
import type { Worker } from 'node:worker_threads';

import type { Output } from './analyze.js';

export { stdio } from './stdio.js';

export const RUN_USAGE = `usage: vmig run [QEMU-style options] -guest ip=A.B.C.D/N[,udp-echo=PORT][,workload=SIZE,dirty-rate=BYTES_PER_SEC]

  -machine q35|pc-q35-10.0…11.1   -m 256M   -smp 2
  -netdev tap,id=n0,ifname=TAP,queues=N
  -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,mq=on[,vectors=…][,early-mig=on|off]
  -global driver.prop=value   -qmp unix:PATH,server=on,wait=off   -S   -serial none|stdio|file:PATH
  -incoming tcp:HOST:PORT|unix:PATH|file:PATH|defer   (a migration destination: the guest arrives, it does not boot)
  -trace [enable=]PATTERN   (trace events, read with QMP x-vmig-query-trace)`;

/** With vmm_loop_stall enabled at start: a 1 ms timer whose lateness past LOOP_STALL_MS is a stall of this thread. */
const LOOP_STALL_MS = 3;
function watchEventLoop(): void {
  if (!traceEnabled('vmm_loop_stall')) return;
  let last = monotonicMs();
  setInterval(() => {
    const now = monotonicMs();
    if (now - last > 1 + LOOP_STALL_MS) trace('vmm_loop_stall', Math.round((now - last - 1) * 1000) / 1000, last + 1);
    last = now;
  }, 1).unref();
}

/** With vmm_gc enabled at start: the main thread's GC pauses (V8's, through perf_hooks' gc entries). */
function watchGc(): void {
  if (!traceEnabled('vmm_gc')) return;
  // Entries are timed on performance.now()'s clock; the trace on CLOCK_MONOTONIC. Both count from one origin.
  const toMonotonic = monotonicMs() - performance.now();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) trace('vmm_gc', Math.round(e.duration * 1000) / 1000, e.startTime + toMonotonic);
  }).observe({ entryTypes: ['gc'] });
}

export interface RunOptions {
  /** vCPU 0's thread, started by the launcher before it loaded this module (VcpuThread.adopt). */
  vcpuWorker?: Worker;
  /** The process's threads before vmig started any (bin/vmig.js): V8's and Node's helpers (host/helper-threads.ts). */
  helperThreads?: readonly number[];
}

export async function runVm(argv: string[], io: Output, options: RunOptions = {}): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(RUN_USAGE);
    return 0;
  }
  // Start vCPU 0's thread first: it spends ~100 ms starting a V8 isolate and
  // loading the guest kernel, which then overlaps with loading the VMM's
  // modules here and building the machine (docs/BENCHMARKS.md). vCPU 0 is the
  // one that boots the guest and brings up its network; the other vCPUs'
  // threads start with the VM, as before: starting them all here too made
  // three threads compete for a 2-core host's CPUs during the imports and
  // measured no faster. Unassigned, the thread does not keep the process
  // alive, so an error below exits without ending it by hand.
  if (options.helperThreads) setHelperThreads(options.helperThreads);
  const boot = options.vcpuWorker ? VcpuThread.adopt(options.vcpuWorker, GUEST_KERNEL_URL) : VcpuThread.start(GUEST_KERNEL_URL);
  const { Vm, parseVmCommandLine } = await import('../machine/index.js');
  const modulesLoadedMs = monotonicMs();
  let config: VmConfig;
  try {
    config = parseVmCommandLine(argv);
  } catch (err) {
    io.err(`vmig run: ${describeError(err)}`);
    return 1;
  }
  // The start-up instants taken before -trace was read are recorded now, at their times.
  for (const pattern of config.trace) setTraceState(pattern, true);
  trace('vmm_process_start', undefined, processStartMs());
  trace('vmm_modules_loaded', undefined, modulesLoadedMs);
  let vm: Vm;
  try {
    vm = await Vm.start(config, { log: (line) => io.err(`vmig: ${line}`), vcpuThreads: [boot] });
    trace('vmm_vm_started');
    watchEventLoop();
    watchGc();
  } catch (err) {
    io.err(`vmig run: ${describeError(err)}`);
    return 1;
  }
  const stop = (reason: string) => void vm.shutdown(reason);
  process.once('SIGINT', () => stop('host-signal'));
  process.once('SIGTERM', () => stop('host-signal'));
  await new Promise<void>((resolve) => vm.onExit(resolve));
  return vm.exitCode;
}


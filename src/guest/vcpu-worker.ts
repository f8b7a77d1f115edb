/**
 * The vCPU worker thread: imports the guest kernel, boots it, and runs its
 * scheduler loop (DESIGN §3):
 *
 *   loop: parked? → acknowledge, wait for RUNNING
 *         take pending interrupts → kernel.interrupt(mask)
 *         kernel.runSlice(now) → more work, or the next timer deadline
 *         nothing to do → Atomics.wait on WAKE_SEQ until the deadline
 *
 * The kernel keeps all its state in guest RAM; this loop keeps none.
 */

import { parentPort, workerData } from 'node:worker_threads';

import { currentThreadId } from '../host/index.thread.js';
import { CLOCK_OFFSET64, IRQ_PENDING, PARKED_AT64, RESUMED_AT64, RUN_STATE, RunState, SLICE_COUNT64, THREAD_ID, WAKE_SEQ, controlViews, hostMonotonicNs } from './vcpu-protocol.js';
import type { GuestKernel, GuestKernelModule } from './guest-kernel.js';
import { VcpuServices } from './vcpu-services.js';
import type { VcpuAssignment } from './vcpu-handle.js';

// vCPU threads keep the default priority: the VMM's event-loop thread gets
// ahead of them by a short scheduler slice instead (machine/vm.ts), which
// lets it preempt a vCPU the moment it wakes without starving the guest
// while both VMMs are busy in pre-copy (docs/migration.md has the A/B).

// The thread may start before its vCPU exists (VcpuThread): load the kernel
// while waiting for the assignment (index, control block, boot data).
const kernelModule = import((workerData as { kernelUrl: string }).kernelUrl) as Promise<GuestKernelModule>;
const data = await new Promise<VcpuAssignment>((resolve) => parentPort!.once('message', resolve));
const { words, wide } = controlViews(data.control);
// Who this thread is, for query-cpus-fast's thread-id (pinning, kernel traces); -1: not known here.
Atomics.store(words, THREAD_ID, currentThreadId() ?? -1);
Atomics.notify(words, THREAD_ID);
const services = new VcpuServices(data.index, data.control);
const mod = await kernelModule;
// The kernel boots when the vCPU first runs, not when the thread starts: a
// migration destination spawns its vCPUs paused while RAM is still arriving,
// and a resuming kernel reads its state from RAM as it boots.
let kernel: GuestKernel | undefined;

/** Scratch-guest rounds a thread that will resume a migrated guest runs while it waits (kernel/warm-up.ts). */
const RESUME_WARM_UP_ROUNDS = 400;
if ((data.bootData as { resume?: boolean }).resume === true && mod.warmUp) {
  // Only while this vCPU is told to stay parked: a resume (or stop) ends it at the next round.
  mod.warmUp({ rounds: RESUME_WARM_UP_ROUNDS, stop: () => Atomics.load(words, RUN_STATE) !== RunState.Paused });
}

function guestNow(): bigint {
  return hostMonotonicNs() + Atomics.load(wide, CLOCK_OFFSET64);
}

for (;;) {
  const state = Atomics.load(words, RUN_STATE);
  if (state === RunState.StopRequested) break;
  if (state === RunState.PauseRequested || state === RunState.Paused) {
    if (state === RunState.PauseRequested) {
      // The time first: whoever sees PAUSED also sees when it happened.
      Atomics.store(wide, PARKED_AT64, hostMonotonicNs());
      Atomics.compareExchange(words, RUN_STATE, RunState.PauseRequested, RunState.Paused);
      Atomics.notify(words, RUN_STATE);
    }
    Atomics.wait(words, RUN_STATE, RunState.Paused);
    if (Atomics.load(words, RUN_STATE) === RunState.Running) Atomics.store(wide, RESUMED_AT64, hostMonotonicNs());
    continue;
  }
  kernel ??= mod.createKernel(services, data.bootData);
  const seq = Atomics.load(words, WAKE_SEQ);
  const lo = Atomics.exchange(words, IRQ_PENDING, 0) >>> 0;
  const hi = Atomics.exchange(words, IRQ_PENDING + 1, 0) >>> 0;
  if ((lo | hi) !== 0) kernel.interrupt((BigInt(hi) << 32n) | BigInt(lo), guestNow());
  const next = kernel.runSlice(guestNow());
  Atomics.add(wide, SLICE_COUNT64, 1n);
  if (next === 'busy') continue;
  // Sleep until the next deadline (or a wake: interrupt, pause, stop).
  const timeoutMs = next === 'idle' ? 50 : Math.max(0, Number(next - guestNow()) / 1e6);
  if (timeoutMs > 0) Atomics.wait(words, WAKE_SEQ, seq, Math.min(timeoutMs, 50));
}

kernel?.shutdown?.();
Atomics.store(words, RUN_STATE, RunState.Stopped);
Atomics.notify(words, RUN_STATE);

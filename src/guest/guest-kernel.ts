/**
 * What a guest kernel module exports to the vCPU worker. The kernel is the
 * guest's code ("firmware"): it must keep every piece of state that has to
 * survive migration in guest RAM, because only RAM, device state and the
 * control block move.
 */

import type { VcpuServices } from './vcpu-services.js';

/** The module a vCPU worker imports to run vmig's guest OS. */
export const GUEST_KERNEL_URL = new URL('./kernel/kernel.js', import.meta.url);

export interface GuestKernel {
  /** MSI-X vectors became pending (bit i = vector i). */
  interrupt(vectors: bigint, nowNs: bigint): void;
  /**
   * Run one bounded slice of work (≤ ~100 µs, so a pause request is honoured
   * quickly). Returns 'busy' if more work is ready, 'idle' if nothing is
   * scheduled, or the guest time of the next timer.
   */
  runSlice(nowNs: bigint): 'busy' | 'idle' | bigint;
  shutdown?(): void;
}

export interface GuestKernelModule {
  createKernel(services: VcpuServices, bootData: unknown): GuestKernel;
  /**
   * Run the kernel's code on a scratch guest of its own (scratch RAM, a
   * scratch NIC in this thread) for up to `rounds` rounds, or until `stop()`:
   * a thread that will resume a migrated guest compiles that code first.
   * Returns the echoes the scratch guest sent.
   */
  warmUp?(options: { rounds: number; stop: () => boolean }): number;
}

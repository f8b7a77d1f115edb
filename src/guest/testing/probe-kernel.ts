/**
 * A tiny guest kernel for testing the vCPU machinery (not the real guest OS).
 * It keeps its state in a SharedArrayBuffer it is booted with (standing in for
 * guest RAM), as a real kernel must:
 *
 *   word 0  slices run          word 1  interrupt vectors seen (OR of bits, low 32)
 *   word 2  command (set by the test, cleared when done)
 *   word 3  command argument    word 4/5  command result (lo/hi)
 *   word 6  guest time at the last slice, in µs (low 32 bits)
 *
 * Commands: 1 = MMIO read of 4 bytes at the argument; 2 = MMIO write of
 * 0x1234 at the argument; 3 = ring doorbell <argument>; 4 = busy-loop in
 * slices of ~50 µs until told otherwise (to measure pause latency under load).
 */

import type { GuestKernel } from '../guest-kernel.js';
import type { VcpuServices } from '../vcpu-services.js';

export function createKernel(services: VcpuServices, bootData: unknown): GuestKernel {
  const ram = new Int32Array((bootData as { ram: SharedArrayBuffer }).ram);
  return {
    interrupt(vectors: bigint): void {
      Atomics.or(ram, 1, Number(vectors & 0xffffffffn) | 0);
    },
    runSlice(nowNs: bigint): 'busy' | 'idle' | bigint {
      Atomics.add(ram, 0, 1);
      Atomics.store(ram, 6, Number((nowNs / 1000n) & 0x7fffffffn));
      const cmd = Atomics.load(ram, 2);
      const arg = Atomics.load(ram, 3);
      switch (cmd) {
        case 1: {
          const v = services.mmioRead(BigInt(arg), 4);
          Atomics.store(ram, 4, Number(v & 0xffffffffn) | 0);
          Atomics.store(ram, 2, 0);
          return 'busy';
        }
        case 2:
          services.mmioWrite(BigInt(arg), 4, 0x1234n);
          Atomics.store(ram, 2, 0);
          return 'busy';
        case 3:
          services.ringDoorbell(arg);
          Atomics.store(ram, 2, 0);
          return 'busy';
        case 4: {
          const until = services.nowNs() + 50_000n;
          while (services.nowNs() < until) {
            /* spin: a guest computing */
          }
          return 'busy';
        }
        default:
          return nowNs + 2_000_000n;
      }
    },
  };
}

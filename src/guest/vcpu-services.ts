/**
 * What the vCPU gives the guest kernel: synchronous MMIO (the equivalent of a
 * KVM MMIO exit: the vCPU blocks until the VMM answers), doorbells (the
 * equivalent of an ioeventfd write: asynchronous) and the guest clock.
 */

import {
  CLOCK_OFFSET64,
  DOORBELL_BITS,
  DOORBELL_SEQ,
  MAX_DOORBELLS,
  MMIO_ADDR64,
  MMIO_ERROR,
  MMIO_OP,
  MMIO_READ,
  MMIO_SIZE,
  MMIO_STATE,
  MMIO_VALUE64,
  MMIO_WRITE,
  MmioState,
  RUN_STATE,
  RunState,
  controlViews,
  hostMonotonicNs,
} from './vcpu-protocol.js';
import type { ControlViews } from './vcpu-protocol.js';

export class VcpuServices {
  readonly index: number;
  readonly #v: ControlViews;
  /** MMIO accesses that faulted (the guest saw all-ones). */
  mmioFaults = 0;

  constructor(index: number, control: SharedArrayBuffer) {
    this.index = index;
    this.#v = controlViews(control);
  }

  /** Guest monotonic time in ns: continuous across pause and migration. */
  nowNs(): bigint {
    return hostMonotonicNs() + Atomics.load(this.#v.wide, CLOCK_OFFSET64);
  }

  mmioRead(addr: bigint, size: 1 | 2 | 4 | 8): bigint {
    return this.#mmio(MMIO_READ, addr, size, 0n);
  }

  mmioWrite(addr: bigint, size: 1 | 2 | 4 | 8, value: bigint): void {
    this.#mmio(MMIO_WRITE, addr, size, value);
  }

  /** Notify virtqueue `queue` (asynchronous: the device picks it up on its own time). */
  ringDoorbell(queue: number): void {
    if (!Number.isInteger(queue) || queue < 0 || queue >= MAX_DOORBELLS) throw new RangeError(`doorbell ${queue} out of range`);
    const { words } = this.#v;
    Atomics.or(words, DOORBELL_BITS + (queue >> 5), 1 << (queue & 31));
    Atomics.add(words, DOORBELL_SEQ, 1);
    Atomics.notify(words, DOORBELL_SEQ);
  }

  /** True when the VMM asked this vCPU to park: long guest loops check it. */
  pauseRequested(): boolean {
    return Atomics.load(this.#v.words, RUN_STATE) !== RunState.Running;
  }

  #mmio(op: number, addr: bigint, size: number, value: bigint): bigint {
    const { words, wide } = this.#v;
    Atomics.store(words, MMIO_OP, op);
    Atomics.store(words, MMIO_SIZE, size);
    Atomics.store(wide, MMIO_ADDR64, addr);
    Atomics.store(wide, MMIO_VALUE64, BigInt.asIntN(64, value));
    Atomics.store(words, MMIO_STATE, MmioState.Request);
    Atomics.notify(words, MMIO_STATE);
    // Block like a vCPU in an MMIO exit, but not across a stop request.
    while (Atomics.load(words, MMIO_STATE) === MmioState.Request) {
      Atomics.wait(words, MMIO_STATE, MmioState.Request, 100);
      if (Atomics.load(words, RUN_STATE) === RunState.StopRequested) return -1n;
    }
    const result = Atomics.load(wide, MMIO_VALUE64);
    if (Atomics.load(words, MMIO_ERROR) !== 0) this.mmioFaults++;
    Atomics.store(words, MMIO_STATE, MmioState.Idle);
    return size >= 8 ? BigInt.asUintN(64, result) : BigInt.asUintN(size * 8, result);
  }
}

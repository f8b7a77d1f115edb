/**
 * The kernel heap: a bump allocator whose only state (the next free address)
 * lives in the boot block, so it migrates with RAM. The guest allocates its
 * long-lived structures once (rings, buffers, tables); a device reset
 * rewinds to a mark taken before the driver's allocations.
 */

import type { GuestMemory } from '../../memory/index.js';
import { VmigError } from '../../core/index.js';
import { BB_HEAP_END, BB_HEAP_NEXT, BOOT_BLOCK } from './ram-layout.js';

export class KernelHeap {
  readonly #mem: GuestMemory;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
  }

  /** Start an empty heap over [base, end). */
  init(base: number, end: number): void {
    this.#mem.writeU32(BOOT_BLOCK + BB_HEAP_NEXT, base);
    this.#mem.writeU32(BOOT_BLOCK + BB_HEAP_END, end);
  }

  /**
   * Allocate `bytes` aligned to `align` (a power of two), zero-filled.
   * @throws VmigError ERR_GUEST_OUT_OF_MEMORY when the heap is exhausted
   */
  alloc(bytes: number, align = 16): number {
    const next = this.#mem.readU32(BOOT_BLOCK + BB_HEAP_NEXT);
    const end = this.#mem.readU32(BOOT_BLOCK + BB_HEAP_END);
    const at = (next + align - 1) & ~(align - 1);
    if (at + bytes > end) throw new VmigError('ERR_GUEST_OUT_OF_MEMORY', `Guest heap exhausted: ${bytes} bytes wanted, ${end - at} left; give the VM more memory (-m) or a smaller workload`);
    this.#mem.fill(at, bytes, 0);
    this.#mem.writeU32(BOOT_BLOCK + BB_HEAP_NEXT, at + bytes);
    return at;
  }

  mark(): number {
    return this.#mem.readU32(BOOT_BLOCK + BB_HEAP_NEXT);
  }

  release(mark: number): void {
    this.#mem.writeU32(BOOT_BLOCK + BB_HEAP_NEXT, mark);
  }
}

/**
 * MockDriver: the driver side of a split virtqueue, for tests (rust-vmm's
 * MockSplitQueue idea). It writes descriptor tables, the available ring and
 * its idx into guest memory exactly as a guest driver does (virtio 1.2
 * §2.7.13: descriptors, ring entry, barrier, idx) and reads the used ring
 * back (§2.7.14), so device tests exercise SplitQueue only through guest
 * memory and never poke its internals. Not exported from virtio/index.ts.
 *
 * Two levels: raw pokes (writeDescriptor, setAvailRing, setAvailIdx, …) for
 * building hostile or unusual rings, and a well-behaved driver (addChain,
 * publish, popUsed) with a free-descriptor list and a bump allocator for
 * buffers and indirect tables in the RAM after the rings.
 */

import { addU16, distanceU16 } from '../../core/index.js';
import type { GuestMemory } from '../../memory/index.js';
import {
  splitQueueAreaSizes,
  vringNeedEvent,
  VIRTQ_AVAIL_ELEM_SIZE,
  VIRTQ_DESC_SIZE,
  VIRTQ_RING_HEADER_SIZE,
  VIRTQ_USED_ELEM_SIZE,
  type SplitQueueConfig,
} from '../split-queue.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_USED_F_NO_NOTIFY } from '../spec-constants.js';

/** One buffer of a chain, as the driver sees it. */
export interface MockBuffer {
  gpa: number;
  len: number;
  writable: boolean;
}

/** One raw descriptor (any values, including invalid ones). */
export interface MockDescriptor {
  addr: bigint | number;
  len: number;
  flags: number;
  next: number;
}

export interface MockUsedElem {
  id: number;
  len: number;
}

export interface MockDriverLayout {
  size: number;
  descAddr: number;
  availAddr: number;
  usedAddr: number;
  /** Buffers and indirect tables are allocated in [dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
  eventIdx: boolean;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export class MockDriver {
  readonly memory: GuestMemory;
  readonly layout: MockDriverLayout;
  /** Next avail idx the driver will publish (entries below it are written). */
  #availIdx = 0;
  #publishedAvailIdx = 0;
  #lastSeenUsed = 0;
  #free: number[];
  /** Descriptors of each in-flight chain, by head, freed when the device uses it. */
  readonly #inFlight = new Map<number, number[]>();
  #dataNext: number;

  constructor(memory: GuestMemory, layout: MockDriverLayout) {
    this.memory = memory;
    this.layout = layout;
    this.#free = Array.from({ length: layout.size }, (_, i) => layout.size - 1 - i);
    this.#dataNext = layout.dataStart;
  }

  /**
   * A driver whose rings start at `base` (desc, then avail, then used, each
   * aligned as §2.7 requires); buffers go in the rest of RAM, page-aligned
   * after the rings.
   */
  static create(memory: GuestMemory, size: number, eventIdx: boolean, base = 0): MockDriver {
    const sizes = splitQueueAreaSizes(size);
    const descAddr = align(base, 16);
    const availAddr = align(descAddr + sizes.desc, 2);
    const usedAddr = align(availAddr + sizes.avail, 4);
    const dataStart = align(usedAddr + sizes.used, 4096);
    return new MockDriver(memory, { size, descAddr, availAddr, usedAddr, dataStart, dataEnd: memory.size, eventIdx });
  }

  /** The configuration the device side should use for this queue. */
  get config(): SplitQueueConfig {
    const l = this.layout;
    return { size: l.size, descAddr: BigInt(l.descAddr), availAddr: BigInt(l.availAddr), usedAddr: BigInt(l.usedAddr), eventIdx: l.eventIdx };
  }

  get freeCount(): number {
    return this.#free.length;
  }

  get availIdx(): number {
    return this.#availIdx;
  }

  /**
   * Pretend the queue has been running: both rings' idx at `idx`, nothing in
   * flight (restore the device with lastAvailIdx = usedIdx = idx).
   */
  startAt(idx: number): void {
    this.#availIdx = idx;
    this.#publishedAvailIdx = idx;
    this.#lastSeenUsed = idx;
    this.setAvailIdx(idx);
    this.memory.atomicStoreU16(this.layout.usedAddr + 2, idx);
  }

  // ---- raw pokes -------------------------------------------------------

  /** Write descriptor `index` of the table at `table` (the queue's own table by default). */
  writeDescriptor(index: number, d: MockDescriptor, table = this.layout.descAddr): void {
    const at = table + VIRTQ_DESC_SIZE * index;
    this.memory.writeU64(at, BigInt(d.addr));
    this.memory.writeU32(at + 8, d.len);
    this.memory.writeU16(at + 12, d.flags);
    this.memory.writeU16(at + 14, d.next);
  }

  setAvailRing(slot: number, head: number): void {
    this.memory.writeU16(this.layout.availAddr + VIRTQ_RING_HEADER_SIZE + VIRTQ_AVAIL_ELEM_SIZE * slot, head);
  }

  /** Store avail idx (atomic: the release that publishes the ring entries). */
  setAvailIdx(idx: number): void {
    this.memory.atomicStoreU16(this.layout.availAddr + 2, idx);
  }

  setAvailFlags(flags: number): void {
    this.memory.atomicStoreU16(this.layout.availAddr, flags);
  }

  setUsedEvent(idx: number): void {
    this.memory.atomicStoreU16(this.layout.availAddr + VIRTQ_RING_HEADER_SIZE + VIRTQ_AVAIL_ELEM_SIZE * this.layout.size, idx);
  }

  readUsedIdx(): number {
    return this.memory.atomicLoadU16(this.layout.usedAddr + 2);
  }

  readUsedFlags(): number {
    return this.memory.atomicLoadU16(this.layout.usedAddr);
  }

  readAvailEvent(): number {
    return this.memory.atomicLoadU16(this.layout.usedAddr + VIRTQ_RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * this.layout.size);
  }

  readUsedElem(slot: number): MockUsedElem {
    const at = this.layout.usedAddr + VIRTQ_RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * slot;
    return { id: this.memory.readU32(at), len: this.memory.readU32(at + 4) };
  }

  // ---- a well-behaved driver ------------------------------------------

  /** `len` bytes of RAM for a buffer or table (8-aligned; wraps to the start of the data area when full). */
  alloc(len: number, alignment = 8): number {
    let at = align(this.#dataNext, alignment);
    if (at + len > this.layout.dataEnd) at = align(this.layout.dataStart, alignment);
    if (at + len > this.layout.dataEnd) throw new RangeError(`MockDriver.alloc: ${len} bytes do not fit in the data area`);
    this.#dataNext = at + len;
    return at;
  }

  /** Descriptors addChain() needs for these buffers. */
  descriptorsNeeded(buffers: readonly MockBuffer[], indirect: boolean): number {
    return indirect ? 1 : buffers.length;
  }

  /**
   * Place a chain (readable buffers first, as §2.7.4.2 requires of drivers)
   * and its head in the next available ring entry, without publishing it.
   * With `indirect`, the buffers go in an indirect table and the ring gets
   * one descriptor. Returns the head.
   */
  addChain(buffers: readonly MockBuffer[], options: { indirect?: boolean } = {}): number {
    if (buffers.length === 0) throw new RangeError('a chain needs at least one buffer');
    const indirect = options.indirect ?? false;
    const needed = this.descriptorsNeeded(buffers, indirect);
    if (needed > this.#free.length) throw new RangeError(`MockDriver.addChain: needs ${needed} descriptors, ${this.#free.length} free`);
    const used: number[] = [];
    if (indirect) {
      const table = this.alloc(VIRTQ_DESC_SIZE * buffers.length, 16);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.writeDescriptor(i, { addr: b.gpa, len: b.len, flags: (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT), next: last ? 0 : i + 1 }, table);
      });
      const d = this.#free.pop()!;
      this.writeDescriptor(d, { addr: table, len: VIRTQ_DESC_SIZE * buffers.length, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      used.push(d);
    } else {
      for (let i = 0; i < buffers.length; i++) used.push(this.#free.pop()!);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.writeDescriptor(used[i]!, { addr: b.gpa, len: b.len, flags: (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT), next: last ? 0 : used[i + 1]! });
      });
    }
    const head = used[0]!;
    this.#inFlight.set(head, used);
    this.setAvailRing(this.#availIdx & (this.layout.size - 1), head);
    this.#availIdx = addU16(this.#availIdx, 1);
    return head;
  }

  /**
   * Publish every chain added since the last publish (one avail idx store)
   * and say whether the driver must notify the device (§2.7.10: avail_event
   * with EVENT_IDX, VIRTQ_USED_F_NO_NOTIFY without).
   */
  publish(): boolean {
    const old = this.#publishedAvailIdx;
    this.setAvailIdx(this.#availIdx);
    this.#publishedAvailIdx = this.#availIdx;
    if (this.layout.eventIdx) return vringNeedEvent(this.readAvailEvent(), this.#availIdx, old);
    return (this.readUsedFlags() & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** addChain + publish; returns the head. */
  add(buffers: readonly MockBuffer[], options: { indirect?: boolean } = {}): number {
    const head = this.addChain(buffers, options);
    this.publish();
    return head;
  }

  /**
   * Read the used elements the device published since the last call and free
   * their descriptors.
   * @throws Error when the device returns a head that is not in flight
   */
  popUsed(): MockUsedElem[] {
    const usedIdx = this.readUsedIdx();
    const out: MockUsedElem[] = [];
    const n = distanceU16(this.#lastSeenUsed, usedIdx);
    if (n > this.layout.size) throw new Error(`device moved used idx ${n} entries ahead (from ${this.#lastSeenUsed} to ${usedIdx})`);
    for (let i = 0; i < n; i++) {
      const elem = this.readUsedElem(addU16(this.#lastSeenUsed, i) & (this.layout.size - 1));
      const descs = this.#inFlight.get(elem.id);
      if (descs === undefined) throw new Error(`device used head ${elem.id}, which is not in flight`);
      this.#inFlight.delete(elem.id);
      this.#free.push(...descs);
      out.push(elem);
    }
    this.#lastSeenUsed = usedIdx;
    return out;
  }
}

/**
 * SplitQueue: the device side of a virtio 1.2 split virtqueue (§2.7) over
 * guest memory. Three areas in guest RAM, all little-endian, written by the
 * driver (D) or the device (d):
 *
 *   descriptor table (align 16, 16·N bytes)           D
 *     [i] le64 addr · le32 len · le16 flags (NEXT|WRITE|INDIRECT) · le16 next
 *   available ring (align 2, 6 + 2·N bytes)           D
 *     le16 flags (NO_INTERRUPT) · le16 idx · le16 ring[N] · le16 used_event
 *   used ring (align 4, 6 + 8·N bytes)                d
 *     le16 flags (NO_NOTIFY) · le16 idx · {le32 id, le32 len}[N] · le16 avail_event
 *
 * The device loop (what the sequence below implements, §2.7.13–§2.7.14 seen
 * from the device):
 *
 *   chain = popAvailable()        load avail idx (atomic, acquire) → ring[last_avail % N]
 *                                 → walk and validate the chain → last_avail += 1
 *   …read chain.readable, write chain.writable…
 *   addUsed(chain.head, written)  used.ring[used_idx % N] = {head, written}; used_idx += 1
 *   publishUsed()                 store used.idx (atomic, release): the driver may now look
 *   needsNotification()           load used_event or avail.flags (atomic, after the store)
 *                                 → interrupt the driver or not (§2.7.7.2)
 *
 * The queue holds only addresses and indices (rust-vmm's design); every ring
 * and descriptor it reads is guest-controlled and untrusted. A guest error
 * throws VirtqueueError and changes nothing, so a device can set
 * DEVICE_NEEDS_RESET and stop: popping the same queue again throws again.
 * Every walk is bounded by the queue size, so a hostile table cannot hang us.
 *
 * All u16 index arithmetic goes through core's wrapU16/addU16/distanceU16.
 */

import { addU16, distanceU16, hex, isU16 } from '../core/index.js';
import type { GuestMemory } from '../memory/index.js';
import { DescriptorChain, type GuestBuffer } from './descriptor-chain.js';
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_MAX_SIZE,
  VIRTQ_USED_F_NO_NOTIFY,
} from './spec-constants.js';
import { VirtqueueError } from './virtqueue-error.js';

/** One descriptor: le64 addr · le32 len · le16 flags · le16 next. */
export const VIRTQ_DESC_SIZE = 16;
/** Ring headers: le16 flags · le16 idx. */
export const VIRTQ_RING_HEADER_SIZE = 4;
/** One available ring entry: le16 head. */
export const VIRTQ_AVAIL_ELEM_SIZE = 2;
/** One used ring element: le32 id · le32 len. */
export const VIRTQ_USED_ELEM_SIZE = 8;
/** Minimum alignments of the three areas (§2.7 table). */
export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;

/** Bytes of the descriptor table, available ring and used ring of an N-entry queue (§2.7 table). */
export function splitQueueAreaSizes(size: number): { desc: number; avail: number; used: number } {
  return { desc: VIRTQ_DESC_SIZE * size, avail: 6 + VIRTQ_AVAIL_ELEM_SIZE * size, used: 6 + VIRTQ_USED_ELEM_SIZE * size };
}

/**
 * vring_need_event (virtio 1.2 §2.7.7.2, Linux include/uapi/linux/virtio_ring.h):
 * true when moving the index from `oldIdx` to `newIdx` wrote the entry at
 * `eventIdx`, i.e. `eventIdx` lies in [oldIdx, newIdx) on the u16 circle.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return distanceU16(addU16(eventIdx, 1), newIdx) < distanceU16(oldIdx, newIdx);
}

/** How the driver laid the queue out, and whether VIRTIO_F_EVENT_IDX was negotiated. */
export interface SplitQueueConfig {
  /** Queue size N: a power of two, 1..32768. */
  size: number;
  /** Guest-physical addresses of the three areas (64-bit in the transport). */
  descAddr: bigint | number;
  availAddr: bigint | number;
  usedAddr: bigint | number;
  eventIdx: boolean;
}

/** Everything migration needs to rebuild the queue: layout plus the device's two indices. */
export interface SplitQueueState {
  size: number;
  descAddr: bigint;
  availAddr: bigint;
  usedAddr: bigint;
  eventIdx: boolean;
  /** Next available ring entry the device will read (QEMU last_avail_idx). */
  lastAvailIdx: number;
  /** Next used ring entry the device will write, as published in used.idx. */
  usedIdx: number;
}

/**
 * A queue state from outside (an incoming migration stream): untrusted until
 * `SplitQueue.fromState`/`setState` validated it.
 */
export type RawSplitQueueState = { [K in keyof SplitQueueState]: unknown };

/** A validated layout, addresses narrowed to numbers (they are inside RAM, below 2^32). */
interface Layout {
  size: number;
  desc: number;
  avail: number;
  used: number;
  eventIdx: boolean;
}

export class SplitQueue {
  readonly #memory: GuestMemory;
  readonly #ramSize: bigint;
  #layout: Layout;
  #lastAvailIdx: number;
  /** Next used element to write; ahead of #publishedUsedIdx until publishUsed(). */
  #usedIdx: number;
  #publishedUsedIdx: number;
  /** used idx at the last needsNotification() (Linux/QEMU signalled_used); undefined = unknown. */
  #signalledUsed: number | undefined;

  /**
   * A queue over `memory` with the driver's layout; both indices start at 0
   * (a freshly enabled queue, §2.7.6 "starts at 0").
   * @throws VirtqueueError ERR_VIRTIO_BAD_QUEUE_CONFIG
   */
  constructor(memory: GuestMemory, config: SplitQueueConfig) {
    this.#memory = memory;
    this.#ramSize = BigInt(memory.size);
    this.#layout = this.#validateLayout(config, 'configure');
    this.#lastAvailIdx = 0;
    this.#usedIdx = 0;
    this.#publishedUsedIdx = 0;
    this.#signalledUsed = undefined;
  }

  /**
   * Rebuild a queue from saved state (the destination side of a migration).
   * @throws VirtqueueError ERR_VIRTIO_BAD_QUEUE_CONFIG, ERR_VIRTIO_BAD_QUEUE_STATE
   */
  static fromState(memory: GuestMemory, raw: RawSplitQueueState): SplitQueue {
    const queue = new SplitQueue(memory, rawConfig(raw));
    queue.setState(raw);
    return queue;
  }

  get size(): number {
    return this.#layout.size;
  }

  get eventIdx(): boolean {
    return this.#layout.eventIdx;
  }

  get lastAvailIdx(): number {
    return this.#lastAvailIdx;
  }

  /** The next used index, including elements added but not yet published. */
  get usedIdx(): number {
    return this.#usedIdx;
  }

  /**
   * The queue's migratable state. Publish used elements first: a state with
   * unpublished elements would not match what the guest sees.
   * @throws Error when addUsed() elements are unpublished (a device bug)
   */
  getState(): SplitQueueState {
    if (this.#usedIdx !== this.#publishedUsedIdx) {
      throw new Error(`virtqueue state requested with ${distanceU16(this.#publishedUsedIdx, this.#usedIdx)} unpublished used element(s): call publishUsed() first`);
    }
    const l = this.#layout;
    return {
      size: l.size,
      descAddr: BigInt(l.desc),
      availAddr: BigInt(l.avail),
      usedAddr: BigInt(l.used),
      eventIdx: l.eventIdx,
      lastAvailIdx: this.#lastAvailIdx,
      usedIdx: this.#usedIdx,
    };
  }

  /**
   * Replace layout and indices with saved ones, all validated first (like
   * rust-vmm's QueueState → Queue): size a power of two ≤ 32768, areas aligned
   * and inside RAM, indices u16, at most N chains in flight. On failure the
   * queue keeps its previous state. The next needsNotification() after a
   * restore always notifies (a spurious interrupt is harmless, §2.7.7.1; a
   * missed one hangs the guest).
   * @throws VirtqueueError ERR_VIRTIO_BAD_QUEUE_CONFIG, ERR_VIRTIO_BAD_QUEUE_STATE
   */
  setState(raw: RawSplitQueueState): void {
    const layout = this.#validateLayout(rawConfig(raw), 'restore');
    const { lastAvailIdx, usedIdx } = raw;
    for (const [field, value] of [['lastAvailIdx', lastAvailIdx], ['usedIdx', usedIdx]] as const) {
      if (typeof value !== 'number' || !isU16(value)) {
        throw new VirtqueueError('ERR_VIRTIO_BAD_QUEUE_STATE', `Cannot restore virtqueue: ${field} ${String(value)} is not a u16`, { field, value: String(value) });
      }
    }
    const last = lastAvailIdx as number;
    const used = usedIdx as number;
    // The device cannot have more chains in flight than the ring holds (QEMU virtio_load's check).
    const inFlight = distanceU16(used, last);
    if (inFlight > layout.size) {
      throw new VirtqueueError(
        'ERR_VIRTIO_BAD_QUEUE_STATE',
        `Cannot restore virtqueue: lastAvailIdx ${last} is ${inFlight} entries past usedIdx ${used}, more than the queue size ${layout.size}`,
        { lastAvailIdx: last, usedIdx: used, size: layout.size },
      );
    }
    this.#layout = layout;
    this.#lastAvailIdx = last;
    this.#usedIdx = used;
    this.#publishedUsedIdx = used;
    this.#signalledUsed = undefined;
  }

  /**
   * Take the ring over from another party that ran it (a vhost-user backend
   * hands it back with GET_VRING_BASE; a backend receives it with
   * SET_VRING_BASE): the next avail index is `lastAvailIdx` (default: where
   * the driver's used index is), and the used index is the one that party
   * published in the ring. Checked as setState checks it.
   * @throws VirtqueueError ERR_VIRTIO_BAD_QUEUE_STATE
   */
  takeOver(lastAvailIdx?: number): void {
    const used = this.#memory.atomicLoadU16(this.#layout.used + 2);
    this.setState({ ...this.getState(), lastAvailIdx: lastAvailIdx ?? used, usedIdx: used });
  }

  /**
   * Number of chains the driver has made available and the device not popped.
   * @throws VirtqueueError ERR_VIRTIO_BAD_AVAIL_IDX when avail idx is more than N ahead
   */
  availableCount(): number {
    // Atomic load = acquire: ring entries and descriptors read after it are at
    // least as new as the driver's writes before it published idx (§2.7.13.3).
    const availIdx = this.#memory.atomicLoadU16(this.#layout.avail + 2);
    const pending = distanceU16(this.#lastAvailIdx, availIdx);
    if (pending > this.#layout.size) {
      throw new VirtqueueError(
        'ERR_VIRTIO_BAD_AVAIL_IDX',
        `Cannot read virtqueue: avail idx ${availIdx} is ${pending} entries past last_avail_idx ${this.#lastAvailIdx}, more than the queue size ${this.#layout.size}`,
        { availIdx, lastAvailIdx: this.#lastAvailIdx, size: this.#layout.size },
      );
    }
    return pending;
  }

  /**
   * The next available chain, validated, or undefined when the driver has
   * made nothing new available. On a guest error nothing changes.
   * @throws VirtqueueError ERR_VIRTIO_BAD_AVAIL_IDX, ERR_VIRTIO_BAD_DESCRIPTOR_INDEX,
   *   ERR_VIRTIO_BUFFER_OUT_OF_RANGE, ERR_VIRTIO_CHAIN_TOO_LONG, ERR_VIRTIO_CHAIN_TOO_LARGE,
   *   ERR_VIRTIO_READABLE_AFTER_WRITABLE, ERR_VIRTIO_BAD_INDIRECT_TABLE, ERR_VIRTIO_NESTED_INDIRECT
   */
  popAvailable(): DescriptorChain | undefined {
    if (this.availableCount() === 0) return undefined;
    const l = this.#layout;
    // size is a power of two, so the slot is the low bits of the free-running index.
    const slot = this.#lastAvailIdx & (l.size - 1);
    const head = this.#memory.readU16(l.avail + VIRTQ_RING_HEADER_SIZE + VIRTQ_AVAIL_ELEM_SIZE * slot);
    const chain = this.#walkChain(head);
    this.#lastAvailIdx = addU16(this.#lastAvailIdx, 1);
    return chain;
  }

  /**
   * Give back the last popped chain (the device could not use it yet, e.g. an
   * RX frame that does not fit): the next pop returns it again.
   * @throws RangeError when no popped chain is outstanding (a device bug)
   */
  undoPop(): void {
    if (this.#lastAvailIdx === this.#usedIdx) throw new RangeError('undoPop() with no chain in flight');
    this.#lastAvailIdx = addU16(this.#lastAvailIdx, -1);
  }

  /**
   * Put a used element in the ring: the chain `head` is done and the device
   * wrote `writtenLen` bytes into its writable buffers. Not visible to the
   * driver until publishUsed() (§2.7.8.2: len is set before used idx moves).
   * @throws RangeError for a head outside the queue or a length that is not a u32 (device bugs)
   */
  addUsed(head: number, writtenLen: number): void {
    const l = this.#layout;
    if (!Number.isInteger(head) || head < 0 || head >= l.size) throw new RangeError(`addUsed: head ${head} is outside a queue of ${l.size}`);
    if (!Number.isInteger(writtenLen) || writtenLen < 0 || writtenLen > 0xffff_ffff) throw new RangeError(`addUsed: written length ${writtenLen} is not a u32`);
    if (distanceU16(this.#publishedUsedIdx, this.#usedIdx) >= l.size) {
      throw new RangeError(`addUsed: ${l.size} used elements are already waiting for publishUsed()`);
    }
    const elem = l.used + VIRTQ_RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * (this.#usedIdx & (l.size - 1));
    this.#memory.writeU32(elem, head);
    this.#memory.writeU32(elem + 4, writtenLen);
    this.#usedIdx = addU16(this.#usedIdx, 1);
  }

  /** Make every element added since the last call visible to the driver (one used idx store). */
  publishUsed(): void {
    if (this.#usedIdx === this.#publishedUsedIdx) return;
    // Atomic store = release: the elements written above (plain stores) are
    // visible to any agent that reads this idx with an atomic load
    // (§2.7.8.2, §2.7.13.3's barrier seen from the device side).
    this.#memory.atomicStoreU16(this.#layout.used + 2, this.#usedIdx);
    this.#publishedUsedIdx = this.#usedIdx;
  }

  /**
   * Whether to send the driver a used buffer notification now, after
   * publishUsed() (virtio 1.2 §2.7.7.2):
   * - without VIRTIO_F_EVENT_IDX: unless avail.flags has VIRTQ_AVAIL_F_NO_INTERRUPT;
   * - with it: when the used idx moved past used_event since the last
   *   decision (vring_need_event), ignoring avail.flags; the first decision
   *   after creation or a restore always notifies.
   */
  needsNotification(): boolean {
    const l = this.#layout;
    const newIdx = this.#publishedUsedIdx;
    const oldIdx = this.#signalledUsed;
    this.#signalledUsed = newIdx;
    // The used idx store in publishUsed() and the loads below are all
    // seq-cst Atomics, so they are not reordered: this is the full barrier
    // (Linux virtio_mb) without which the device could read a stale
    // used_event and miss the interrupt the driver is waiting for.
    if (!l.eventIdx) {
      return (this.#memory.atomicLoadU16(l.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (oldIdx === undefined) return true;
    const usedEvent = this.#memory.atomicLoadU16(this.#usedEventGpa());
    return vringNeedEvent(usedEvent, newIdx, oldIdx);
  }

  /**
   * Write avail_event (VIRTIO_F_EVENT_IDX only): the driver need not notify
   * until it makes entry `value` available (§2.7.10).
   * @throws RangeError without VIRTIO_F_EVENT_IDX (the field has no meaning then)
   */
  setAvailEvent(value: number = this.#lastAvailIdx): void {
    if (!this.#layout.eventIdx) throw new RangeError('setAvailEvent: avail_event exists only with VIRTIO_F_EVENT_IDX');
    if (!isU16(value)) throw new RangeError(`setAvailEvent: ${value} is not a u16`);
    this.#memory.atomicStoreU16(this.#availEventGpa(), value);
  }

  /**
   * Ask the driver for available buffer notifications again (§2.7.10): with
   * EVENT_IDX set avail_event to last_avail_idx, otherwise clear
   * VIRTQ_USED_F_NO_NOTIFY. Returns true when chains are already pending, so
   * the device must keep polling instead of sleeping (the driver may have
   * added them before it could see the request).
   * @throws VirtqueueError ERR_VIRTIO_BAD_AVAIL_IDX
   */
  enableNotification(): boolean {
    if (this.#layout.eventIdx) this.setAvailEvent(this.#lastAvailIdx);
    else this.#memory.atomicStoreU16(this.#layout.used, 0);
    // Store (above) then load (below), both seq-cst: the re-check cannot be
    // satisfied by a value older than the request (the virtio_mb in QEMU's
    // virtio_queue_set_notification + virtio_queue_empty).
    return this.availableCount() > 0;
  }

  /**
   * Tell the driver notifications are not needed (the device is polling).
   * Without EVENT_IDX this sets VIRTQ_USED_F_NO_NOTIFY; with it avail_event is
   * simply no longer advanced (the device MUST keep used.flags 0, §2.7.10.2).
   */
  disableNotification(): void {
    if (!this.#layout.eventIdx) this.#memory.atomicStoreU16(this.#layout.used, VIRTQ_USED_F_NO_NOTIFY);
  }

  #usedEventGpa(): number {
    return this.#layout.avail + VIRTQ_RING_HEADER_SIZE + VIRTQ_AVAIL_ELEM_SIZE * this.#layout.size;
  }

  #availEventGpa(): number {
    return this.#layout.used + VIRTQ_RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * this.#layout.size;
  }

  /**
   * Walk and validate the chain starting at `head`. Descriptors are read once
   * each into locals, so what is validated is what is returned even if the
   * guest rewrites the table meanwhile. Termination: each step either counts
   * a buffer descriptor (at most N, then CHAIN_TOO_LONG) or enters the one
   * indirect table a chain may have, so a loop ends within N + 1 steps.
   */
  #walkChain(head: number): DescriptorChain {
    const mem = this.#memory;
    const size = this.#layout.size;
    const readable: GuestBuffer[] = [];
    const writable: GuestBuffer[] = [];
    let table = this.#layout.desc;
    let tableEntries = size;
    let indirectAt: number | undefined;
    let index = head;
    let buffers = 0;
    let bytes = 0;
    for (;;) {
      if (index >= tableEntries) {
        const where = indirectAt === undefined ? `the queue size ${size}` : `the ${tableEntries}-entry indirect table`;
        throw this.#chainError('ERR_VIRTIO_BAD_DESCRIPTOR_INDEX', head, `descriptor index ${index} is outside ${where}`, { index, tableEntries, indirect: indirectAt !== undefined });
      }
      const at = table + VIRTQ_DESC_SIZE * index;
      // le64 addr read as two u32 halves: RAM is below 4 GiB, so a non-zero
      // high half is simply out of range, and the hot path allocates no bigint.
      const addrLo = mem.readU32(at);
      const addrHi = mem.readU32(at + 4);
      const len = mem.readU32(at + 8);
      const flags = mem.readU16(at + 12);
      const next = mem.readU16(at + 14);

      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        // §2.7.5.3: at most one table per chain, it ends the direct chain, its
        // WRITE flag is ignored (§2.7.5.3.2), and it holds whole descriptors.
        if (indirectAt !== undefined) {
          throw this.#chainError('ERR_VIRTIO_NESTED_INDIRECT', head, `descriptor ${index} of an indirect table refers to another indirect table`, { index });
        }
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) {
          throw this.#chainError('ERR_VIRTIO_BAD_INDIRECT_TABLE', head, `descriptor ${index} sets both INDIRECT and NEXT`, { index, flags });
        }
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0) {
          throw this.#chainError('ERR_VIRTIO_BAD_INDIRECT_TABLE', head, `indirect table length ${len} is not a positive multiple of ${VIRTQ_DESC_SIZE}`, { index, len });
        }
        const tableGpa = this.#gpaOf(addrHi, addrLo, len);
        if (tableGpa === undefined) {
          throw this.#chainError('ERR_VIRTIO_BAD_INDIRECT_TABLE', head, `indirect table [${hex64(addrHi, addrLo)}, +${len}) is outside RAM of ${mem.size} bytes`, { index, addr: hex64(addrHi, addrLo), len, ramSize: mem.size });
        }
        indirectAt = index;
        table = tableGpa;
        tableEntries = len / VIRTQ_DESC_SIZE;
        index = 0;
        continue;
      }

      if (++buffers > size) {
        throw this.#chainError('ERR_VIRTIO_CHAIN_TOO_LONG', head, `the chain has more than ${size} descriptors (a loop, or longer than the queue size)`, { limit: size });
      }
      const gpa = this.#gpaOf(addrHi, addrLo, len);
      if (gpa === undefined) {
        throw this.#chainError('ERR_VIRTIO_BUFFER_OUT_OF_RANGE', head, `descriptor ${index} buffer [${hex64(addrHi, addrLo)}, +${len}) is outside RAM of ${mem.size} bytes`, { index, addr: hex64(addrHi, addrLo), len, ramSize: mem.size, indirect: indirectAt !== undefined });
      }
      // §2.7.5.2: a chain is at most 2^32 bytes in total.
      bytes += len;
      if (bytes > 2 ** 32) {
        throw this.#chainError('ERR_VIRTIO_CHAIN_TOO_LARGE', head, `the chain's buffers add up to more than 2^32 bytes`, { bytes });
      }
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) {
        writable.push({ gpa, len });
      } else if (writable.length > 0) {
        // §2.7.4.2: device-writable buffers come after all device-readable ones.
        throw this.#chainError('ERR_VIRTIO_READABLE_AFTER_WRITABLE', head, `descriptor ${index} is device-readable but follows a device-writable one`, { index });
      } else {
        readable.push({ gpa, len });
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      index = next;
    }
    return new DescriptorChain(mem, head, readable, writable);
  }

  /**
   * The guest-supplied range (le64 address as halves, u32 length) as a gpa
   * when it lies inside RAM, else undefined. Numbers here stay below 2^33, so
   * `lo + len` is exact: the sum cannot wrap as the guest's u64 arithmetic would.
   */
  #gpaOf(addrHi: number, addrLo: number, len: number): number | undefined {
    if (addrHi !== 0 || addrLo + len > this.#memory.size) return undefined;
    return addrLo;
  }

  #chainError(code: ConstructorParameters<typeof VirtqueueError>[0], head: number, what: string, details: Record<string, unknown>): VirtqueueError {
    return new VirtqueueError(code, `Cannot use the chain at head ${head} (avail entry ${this.#lastAvailIdx}): ${what}`, {
      head,
      lastAvailIdx: this.#lastAvailIdx,
      ...details,
    });
  }

  /** Check a layout against the spec's rules and this RAM; `verb` words the error (configure / restore). */
  #validateLayout(config: SplitQueueConfig, verb: string): Layout {
    const { size, eventIdx } = config;
    const fail = (field: string, value: unknown, why: string): never => {
      throw new VirtqueueError('ERR_VIRTIO_BAD_QUEUE_CONFIG', `Cannot ${verb} virtqueue: ${field} ${why}`, {
        field,
        value: typeof value === 'bigint' ? hex(value) : String(value),
      });
    };
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) !== 0) {
      fail('size', size, `${String(size)} is not a power of two in 1..${VIRTQ_MAX_SIZE}`);
    }
    if (typeof eventIdx !== 'boolean') fail('eventIdx', eventIdx, 'is not a boolean');
    const sizes = splitQueueAreaSizes(size);
    const area = (field: string, value: unknown, align: number, bytes: number, what: string): number => {
      if (!(typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value)))) {
        return fail(field, value, `(${what}) is not an integer address`);
      }
      const addr = BigInt(value);
      if (addr < 0n) return fail(field, value, `(${what}) ${hex(addr)} is negative`);
      if (addr % BigInt(align) !== 0n) return fail(field, value, `(${what}) ${hex(addr)} is not ${align}-byte aligned`);
      if (addr > this.#ramSize - BigInt(bytes)) {
        return fail(field, value, `(${what}) [${hex(addr)}, +${bytes}) is outside RAM of ${this.#memory.size} bytes`);
      }
      return Number(addr);
    };
    return {
      size,
      desc: area('descAddr', config.descAddr, VIRTQ_DESC_ALIGN, sizes.desc, 'descriptor table'),
      avail: area('availAddr', config.availAddr, VIRTQ_AVAIL_ALIGN, sizes.avail, 'available ring'),
      used: area('usedAddr', config.usedAddr, VIRTQ_USED_ALIGN, sizes.used, 'used ring'),
      eventIdx,
    };
  }
}

/** A le64 given as u32 halves, in hex. */
function hex64(hi: number, lo: number): string {
  return hex((BigInt(hi) << 32n) | BigInt(lo));
}

/** The layout part of an untrusted state, still untrusted (validated by the caller). */
function rawConfig(raw: RawSplitQueueState): SplitQueueConfig {
  return {
    size: raw.size as number,
    descAddr: raw.descAddr as bigint,
    availAddr: raw.availAddr as bigint,
    usedAddr: raw.usedAddr as bigint,
    eventIdx: raw.eventIdx as boolean,
  };
}

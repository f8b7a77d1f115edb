/**
 * GuestMemory: the guest's RAM, one contiguous region of guest-physical
 * addresses starting at 0, over one SharedArrayBuffer (DESIGN.md §3).
 *
 *   gpa 0                                                      size
 *   ├──────── page 0 ────────┼── page 1 ──┼── … ──┼── page n-1 ──┤
 *   └─ bytes: one Uint8Array over the whole region
 *      dirty: one bit per 4 KiB page (DirtyBitmap), set by every write method
 *
 * In the VMM the buffer is a memfd mapping (`create`), so a vhost-user backend
 * in another process can map the same pages; a vCPU worker receives the two
 * SharedArrayBuffers (`shared`) and wraps them again (`fromShared`): every
 * thread then reads and writes the same RAM and marks the same bitmap.
 *
 * Trust: addresses handed to this class usually come from the guest (ring
 * addresses, descriptor addresses). Every accessor checks its range first and
 * throws GuestMemoryError ERR_MEMORY_OUT_OF_RANGE, never a RangeError from a
 * typed array and never a silent short read.
 *
 * Size: at most 4 GiB minus one page. One Uint8Array must cover all of RAM
 * (Node 20 caps a typed array at 2^32 elements), gpa values are plain
 * numbers below 2^32 (so `>>>` arithmetic on them is exact), and keeping one
 * page below the 4 GiB line leaves `gpa + len` of any valid range below 2^32.
 *
 * Dirty order: every write method writes the bytes first and marks the page
 * after. The migration harvests the bitmap and then copies the page; with
 * write→mark on one side and harvest→copy on the other, a write is either
 * visible to the copy or its mark survives into the next round. The mark is
 * an `Atomics.or` even when the bit is already set: an atomic read-modify-write
 * is what the harvesting `Atomics.exchange` synchronizes with, which is what
 * makes the preceding plain byte writes visible to the copying thread.
 */

import { MemfdRegion, hostPageSize } from '../host/index.memfd.js';
import { DirtyBitmap } from './dirty-bitmap.js';
import { GuestMemoryError } from './errors.js';

/** Guest page size for dirty tracking and RAM migration (x86 TARGET_PAGE_SIZE). */
export const GUEST_PAGE_SIZE = 4096;
/** log2(GUEST_PAGE_SIZE). */
export const GUEST_PAGE_SHIFT = 12;
/** Largest RAM size: 4 GiB minus one page (see the file header). */
export const GUEST_MEMORY_MAX_BYTES = 2 ** 32 - GUEST_PAGE_SIZE;

/**
 * Atomics operate in the host's byte order while virtio rings are
 * little-endian, so ring indices accessed through Atomics are only right on a
 * little-endian host (x86-64, arm64 as Linux runs it).
 */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x02;

/** What a worker needs to see the same RAM and the same dirty bitmap. */
export interface GuestMemoryShared {
  ram: SharedArrayBuffer;
  dirty: SharedArrayBuffer;
}

const U64_LIMIT = 1n << 64n;

export class GuestMemory {
  /** RAM size in bytes (a multiple of the page size). */
  readonly size: number;
  readonly pageSize: number = GUEST_PAGE_SIZE;
  readonly pageCount: number;
  /**
   * All of RAM as bytes. For reading; code that writes through it must call
   * `markDirty` itself (prefer the write methods, which do).
   */
  readonly bytes: Uint8Array;
  /** The dirty-page bitmap every write method marks. */
  readonly dirty: DirtyBitmap;
  readonly #ram: SharedArrayBuffer;
  readonly #view: DataView;
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  #region: MemfdRegion | undefined;
  #logRegion: MemfdRegion | undefined;

  private constructor(ram: SharedArrayBuffer, dirty: DirtyBitmap, region: MemfdRegion | undefined, logRegion?: MemfdRegion) {
    this.size = ram.byteLength;
    this.pageCount = this.size / GUEST_PAGE_SIZE;
    this.#ram = ram;
    this.bytes = new Uint8Array(ram);
    this.#view = new DataView(ram);
    this.#u16 = new Uint16Array(ram);
    this.#u32 = new Uint32Array(ram);
    this.dirty = dirty;
    this.#region = region;
    this.#logRegion = logRegion;
  }

  /**
   * Guest RAM backed by a new memfd (the VMM's RAM: shareable with other
   * processes through `region.fd`), its dirty bitmap in a second memfd
   * (`dirtyLogRegion`: a vhost-user backend's dirty log, see dirty-bitmap.ts).
   * Zero-filled, all pages clean.
   * @throws GuestMemoryError ERR_MEMORY_BAD_SIZE, ERR_MEMORY_UNSUPPORTED_HOST; VmigError ERR_HOST_* from the memfd
   */
  static create(byteLength: number, name = 'vmig-guest-ram'): GuestMemory {
    checkSize(byteLength);
    const pages = byteLength / GUEST_PAGE_SIZE;
    const page = hostPageSize();
    const region = MemfdRegion.create(name, byteLength);
    let log: MemfdRegion;
    try {
      log = MemfdRegion.create(`${name}-dirty-log`, Math.ceil(DirtyBitmap.byteLengthFor(pages) / page) * page);
    } catch (err) {
      region.close();
      throw err;
    }
    return new GuestMemory(region.buffer, DirtyBitmap.fromShared(log.buffer, pages), region, log);
  }

  /**
   * Guest RAM over a plain SharedArrayBuffer, not a memfd: threads of this
   * process can share it, other processes cannot. For tests and pure layers.
   * @throws GuestMemoryError ERR_MEMORY_BAD_SIZE, ERR_MEMORY_UNSUPPORTED_HOST
   */
  static createAnonymous(byteLength: number): GuestMemory {
    checkSize(byteLength);
    return new GuestMemory(new SharedArrayBuffer(byteLength), DirtyBitmap.create(byteLength / GUEST_PAGE_SIZE), undefined);
  }

  /**
   * The RAM another thread created, from the buffers it posted (`shared`).
   * @throws GuestMemoryError ERR_MEMORY_BAD_SIZE, ERR_MEMORY_UNSUPPORTED_HOST;
   *   RangeError when the dirty buffer does not match the RAM size
   */
  static fromShared(shared: GuestMemoryShared): GuestMemory {
    if (!(shared.ram instanceof SharedArrayBuffer)) throw new TypeError('shared guest RAM must be a SharedArrayBuffer');
    checkSize(shared.ram.byteLength);
    return new GuestMemory(shared.ram, DirtyBitmap.fromShared(shared.dirty, shared.ram.byteLength / GUEST_PAGE_SIZE), undefined);
  }

  /** The buffers to post to a worker (zero-copy) so it can `fromShared` the same RAM. */
  get shared(): GuestMemoryShared {
    return { ram: this.#ram, dirty: this.dirty.buffer };
  }

  /** The memfd region behind RAM made by `create` (its fd is what vhost-user maps); otherwise undefined. */
  get region(): MemfdRegion | undefined {
    return this.#region;
  }

  /** The memfd behind the dirty bitmap of RAM made by `create` (a vhost-user dirty log); otherwise undefined. */
  get dirtyLogRegion(): MemfdRegion | undefined {
    return this.#logRegion;
  }

  /**
   * Close the memfd this object created (idempotent; nothing to do for RAM from
   * `createAnonymous`/`fromShared`). The mapping itself lives until the last
   * view of the buffer in any thread is collected (MemfdRegion's lifetime note).
   */
  close(): void {
    this.#region?.close();
    this.#region = undefined;
    this.#logRegion?.close();
    this.#logRegion = undefined;
  }

  /** True when [gpa, gpa+len) is inside RAM (non-negative integers, no wrap). */
  contains(gpa: number, len: number): boolean {
    return Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && gpa >= 0 && len >= 0 && gpa <= this.size && len <= this.size - gpa;
  }

  /**
   * Check that [gpa, gpa+len) is inside RAM. Written as `len <= size - gpa` so
   * no sum can exceed the range being checked; non-integers and negatives fail.
   * @throws GuestMemoryError ERR_MEMORY_OUT_OF_RANGE with details {gpa, len, size}
   */
  checkRange(gpa: number, len: number): void {
    if (!this.contains(gpa, len)) {
      throw new GuestMemoryError(
        'ERR_MEMORY_OUT_OF_RANGE',
        `Cannot access guest memory: [${describeNumber(gpa)}, +${describeNumber(len)}) is outside RAM of ${this.size} bytes`,
        { gpa, len, size: this.size },
      );
    }
  }

  readU8(gpa: number): number {
    this.checkRange(gpa, 1);
    return this.bytes[gpa]!;
  }

  /** Little-endian u16. */
  readU16(gpa: number): number {
    this.checkRange(gpa, 2);
    return this.#view.getUint16(gpa, true);
  }

  /** Little-endian u32. */
  readU32(gpa: number): number {
    this.checkRange(gpa, 4);
    return this.#view.getUint32(gpa, true);
  }

  /** Little-endian u64, as a bigint. */
  readU64(gpa: number): bigint {
    this.checkRange(gpa, 8);
    return this.#view.getBigUint64(gpa, true);
  }

  writeU8(gpa: number, value: number): void {
    checkUint(value, 0xff, 'u8');
    this.checkRange(gpa, 1);
    this.bytes[gpa] = value;
    this.#markPages(gpa, 1);
  }

  /** Little-endian u16. */
  writeU16(gpa: number, value: number): void {
    checkUint(value, 0xffff, 'u16');
    this.checkRange(gpa, 2);
    this.#view.setUint16(gpa, value, true);
    this.#markPages(gpa, 2);
  }

  /** Little-endian u32. */
  writeU32(gpa: number, value: number): void {
    checkUint(value, 0xffff_ffff, 'u32');
    this.checkRange(gpa, 4);
    this.#view.setUint32(gpa, value, true);
    this.#markPages(gpa, 4);
  }

  /** Little-endian u64. */
  writeU64(gpa: number, value: bigint): void {
    if (typeof value !== 'bigint' || value < 0n || value >= U64_LIMIT) throw new RangeError(`writeU64: ${String(value)} is not a u64 bigint`);
    this.checkRange(gpa, 8);
    this.#view.setBigUint64(gpa, value, true);
    this.#markPages(gpa, 8);
  }

  /** A view (not a copy) of [gpa, gpa+len), for reading. It sees later writes. */
  slice(gpa: number, len: number): Uint8Array {
    this.checkRange(gpa, len);
    return this.bytes.subarray(gpa, gpa + len);
  }

  /** Copy [gpa, gpa+target.length) out of guest memory into `target`. */
  readInto(gpa: number, target: Uint8Array): void {
    this.checkRange(gpa, target.length);
    target.set(this.bytes.subarray(gpa, gpa + target.length));
  }

  /** Copy `data` into guest memory at `gpa` and mark the pages dirty. */
  write(gpa: number, data: Uint8Array): void {
    this.checkRange(gpa, data.length);
    this.bytes.set(data, gpa);
    this.#markPages(gpa, data.length);
  }

  /**
   * Copy `length` bytes of a host buffer, from `sourceOffset`, into guest
   * memory at `gpa` (a DMA write: a received frame into an RX buffer) and mark
   * the pages dirty.
   */
  copyFrom(gpa: number, source: Uint8Array, sourceOffset = 0, length = source.length - sourceOffset): void {
    if (!Number.isSafeInteger(sourceOffset) || !Number.isSafeInteger(length) || sourceOffset < 0 || length < 0 || length > source.length - sourceOffset) {
      throw new RangeError(`copyFrom: [${sourceOffset}, +${length}) is outside a source of ${source.length} bytes`);
    }
    this.write(gpa, source.subarray(sourceOffset, sourceOffset + length));
  }

  /** Copy guest memory to guest memory (ranges may overlap) and mark the destination dirty. */
  copyWithin(dstGpa: number, srcGpa: number, len: number): void {
    this.checkRange(srcGpa, len);
    this.checkRange(dstGpa, len);
    this.bytes.copyWithin(dstGpa, srcGpa, srcGpa + len);
    this.#markPages(dstGpa, len);
  }

  /** Set [gpa, gpa+len) to `value` and mark the pages dirty. */
  fill(gpa: number, len: number, value = 0): void {
    checkUint(value, 0xff, 'fill byte');
    this.checkRange(gpa, len);
    this.bytes.fill(value, gpa, gpa + len);
    this.#markPages(gpa, len);
  }

  /** Mark the pages of [gpa, gpa+len) dirty (after writing through `bytes` or a `slice`). */
  markDirty(gpa: number, len: number): void {
    this.checkRange(gpa, len);
    this.#markPages(gpa, len);
  }

  // Ring indices shared with other agents (the guest's vCPU workers, a
  // vhost-user backend) go through these: JS Atomics are sequentially
  // consistent, so
  //  - a plain write followed by an atomic store is visible, in that order, to
  //    an agent that atomically loads the stored value (the "write barrier
  //    before publishing idx" of virtio 1.2 §2.7.13.3 / Linux virtio_wmb);
  //  - an atomic load followed by plain reads sees everything the publisher
  //    wrote before its store (the read barrier after reading idx);
  //  - an atomic store followed by an atomic load of another location is not
  //    reordered (the full barrier virtio needs between publishing used idx
  //    and reading used_event; V8 emits a locked xchg for the store on x86).
  // Atomics use host byte order; the constructor refuses a big-endian host.

  /** Atomic little-endian u16 load; `gpa` must be 2-aligned. */
  atomicLoadU16(gpa: number): number {
    this.#checkAligned(gpa, 2);
    return Atomics.load(this.#u16, gpa >>> 1);
  }

  /** Atomic little-endian u16 store (marks the page dirty); `gpa` must be 2-aligned. */
  atomicStoreU16(gpa: number, value: number): void {
    checkUint(value, 0xffff, 'u16');
    this.#checkAligned(gpa, 2);
    Atomics.store(this.#u16, gpa >>> 1, value);
    this.#markPages(gpa, 2);
  }

  /** Atomic little-endian u32 load; `gpa` must be 4-aligned. */
  atomicLoadU32(gpa: number): number {
    this.#checkAligned(gpa, 4);
    return Atomics.load(this.#u32, gpa >>> 2);
  }

  /** Atomic little-endian u32 store (marks the page dirty); `gpa` must be 4-aligned. */
  atomicStoreU32(gpa: number, value: number): void {
    checkUint(value, 0xffff_ffff, 'u32');
    this.#checkAligned(gpa, 4);
    Atomics.store(this.#u32, gpa >>> 2, value);
    this.#markPages(gpa, 4);
  }

  #checkAligned(gpa: number, align: number): void {
    this.checkRange(gpa, align);
    if (gpa % align !== 0) {
      throw new GuestMemoryError('ERR_MEMORY_MISALIGNED', `Cannot access guest memory atomically: ${describeNumber(gpa)} is not ${align}-byte aligned`, {
        gpa,
        align,
      });
    }
  }

  /** Range already checked: mark every page [gpa, gpa+len) touches. */
  #markPages(gpa: number, len: number): void {
    if (len === 0) return;
    const first = gpa >>> GUEST_PAGE_SHIFT;
    const last = (gpa + len - 1) >>> GUEST_PAGE_SHIFT;
    if (first === last) this.dirty.markPage(first);
    else this.dirty.markPages(first, last - first + 1);
  }
}

function checkSize(byteLength: number): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new GuestMemoryError(
      'ERR_MEMORY_UNSUPPORTED_HOST',
      'Cannot create guest memory: this host is big-endian, and virtio rings shared through Atomics need a little-endian host',
      {},
    );
  }
  if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteLength % GUEST_PAGE_SIZE !== 0 || byteLength > GUEST_MEMORY_MAX_BYTES) {
    throw new GuestMemoryError(
      'ERR_MEMORY_BAD_SIZE',
      `Cannot create guest memory of ${String(byteLength)} bytes: give a positive multiple of ${GUEST_PAGE_SIZE} no larger than ${GUEST_MEMORY_MAX_BYTES} (4 GiB minus one page)`,
      { byteLength, pageSize: GUEST_PAGE_SIZE, max: GUEST_MEMORY_MAX_BYTES },
    );
  }
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what}: ${value} is out of range 0..${max}`);
}

/** Hex for integers (addresses read best in hex), as-is for anything else (NaN, 1.5). */
function describeNumber(n: number): string {
  return Number.isSafeInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

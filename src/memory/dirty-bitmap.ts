/**
 * DirtyBitmap: one bit per guest page, in a SharedArrayBuffer, set by every
 * thread that writes guest RAM (the VMM's devices, the vCPU workers) and
 * harvested by the migration's RAM pre-copy (DESIGN.md §3 "Dirty tracking").
 *
 *   word w (u32, native order)   bit b   ⇔ page 32·w + b is dirty
 *   ┌──────────────┬──────────────┬─────┬──────────────────────┐
 *   │ pages 0..31  │ pages 32..63 │ ... │ last word: bits past │
 *   │              │              │     │ pageCount stay 0     │
 *   └──────────────┴──────────────┴─────┴──────────────────────┘
 *
 * Concurrency: setters use `Atomics.or`, so two threads marking pages that
 * share a word never lose each other's bit; `fetchAndClear` uses
 * `Atomics.exchange` per word, so a bit set concurrently with the harvest is
 * either in this snapshot or still set for the next one, never lost. The word
 * layout is native-endian. On a little-endian host (the only kind vmig runs
 * on, guest-memory.ts checks) it is bit for bit the vhost-user dirty log
 * (`log[page / 8] |= 1 << (page % 8)`, VHOST_LOG_PAGE = 4096 = the guest
 * page): the VMM's bitmap lives in a memfd and is handed to a vhost-user
 * backend as its log (SET_LOG_BASE), so the backend's writes into guest RAM
 * land in the very bits pre-copy harvests, with no log sync step.
 */

import { bitIndices, harvestBits } from '../host/index.memfd.js';

/** Bits per bitmap word. */
const WORD_BITS = 32;

/** Bytes of SharedArrayBuffer a bitmap of `pageCount` pages needs. */
function byteLengthFor(pageCount: number): number {
  return Math.ceil(pageCount / WORD_BITS) * 4;
}

/** A mask of bits `lo..hi` (inclusive, 0 ≤ lo ≤ hi ≤ 31) as a u32. */
function bitRange(lo: number, hi: number): number {
  return ((0xffff_ffff >>> (WORD_BITS - 1 - (hi - lo))) << lo) >>> 0;
}

/** Number of set bits in a u32. */
function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x5555_5555);
  v = (v & 0x3333_3333) + ((v >>> 2) & 0x3333_3333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f_0f0f, 0x0101_0101) >>> 24) & 0xff;
}

/** The dirty pages at the moment of a `fetchAndClear`: a private copy, not shared. */
export class DirtySnapshot implements Iterable<number> {
  readonly pageCount: number;
  /** The harvested words (bit b of word w = page 32·w + b). */
  readonly words: Uint32Array;

  constructor(pageCount: number, words: Uint32Array) {
    this.pageCount = pageCount;
    this.words = words;
  }

  /** Number of dirty pages in the snapshot. */
  count(): number {
    let n = 0;
    for (let w = 0; w < this.words.length; w++) n += popcount32(this.words[w]!);
    return n;
  }

  has(page: number): boolean {
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) return false;
    return ((this.words[page >>> 5]! >>> (page & 31)) & 1) === 1;
  }

  /** Dirty page indices in ascending order (listed by the addon: host/bit-words.ts). */
  *pages(): IterableIterator<number> {
    yield* bitIndices(this.words);
  }

  [Symbol.iterator](): IterableIterator<number> {
    return this.pages();
  }

  toArray(): number[] {
    return [...this.pages()];
  }
}

export class DirtyBitmap {
  /** Pages covered; bits at and past this index are never set. */
  readonly pageCount: number;
  readonly #buffer: SharedArrayBuffer;
  readonly #words: Uint32Array;

  private constructor(pageCount: number, buffer: SharedArrayBuffer) {
    this.pageCount = pageCount;
    this.#buffer = buffer;
    this.#words = new Uint32Array(buffer, 0, byteLengthFor(pageCount) / 4);
  }

  /** Bytes of SharedArrayBuffer a bitmap of `pageCount` pages occupies (whole u32 words). */
  static byteLengthFor(pageCount: number): number {
    if (!Number.isSafeInteger(pageCount) || pageCount <= 0) throw new RangeError(`a dirty bitmap needs a positive page count, got ${pageCount}`);
    return byteLengthFor(pageCount);
  }

  /** A clean bitmap of `pageCount` pages in a new SharedArrayBuffer. */
  static create(pageCount: number): DirtyBitmap {
    return new DirtyBitmap(pageCount, new SharedArrayBuffer(DirtyBitmap.byteLengthFor(pageCount)));
  }

  /**
   * The bitmap another thread created and posted (`bitmap.buffer`): both
   * objects then read and set the same bits. The buffer may be longer than
   * the bitmap (a memfd is a whole number of host pages, and the vhost-user
   * dirty log is one); the bytes past it are not touched.
   * @throws RangeError when the buffer is shorter than `pageCount` needs
   */
  static fromShared(buffer: SharedArrayBuffer, pageCount: number): DirtyBitmap {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('a shared dirty bitmap must be a SharedArrayBuffer');
    const expected = DirtyBitmap.byteLengthFor(pageCount);
    if (buffer.byteLength < expected) {
      throw new RangeError(`a dirty bitmap of ${pageCount} pages needs ${expected} bytes, the shared buffer has ${buffer.byteLength}`);
    }
    return new DirtyBitmap(pageCount, buffer);
  }

  /** The shared words; post it to a worker and pass it to `fromShared` there. */
  get buffer(): SharedArrayBuffer {
    return this.#buffer;
  }

  markPage(page: number): void {
    this.#checkPage(page);
    Atomics.or(this.#words, page >>> 5, (1 << (page & 31)) >>> 0);
  }

  /** Mark `count` consecutive pages from `firstPage`, one atomic OR per word touched. */
  markPages(firstPage: number, count: number): void {
    if (count === 0) return;
    this.#checkPage(firstPage);
    const lastPage = firstPage + count - 1;
    this.#checkPage(lastPage);
    const words = this.#words;
    const firstWord = firstPage >>> 5;
    const lastWord = lastPage >>> 5;
    for (let w = firstWord; w <= lastWord; w++) {
      const lo = w === firstWord ? firstPage & 31 : 0;
      const hi = w === lastWord ? lastPage & 31 : 31;
      Atomics.or(words, w, bitRange(lo, hi));
    }
  }

  /** Mark every page (the first pre-copy pass sends all of RAM). */
  markAll(): void {
    this.markPages(0, this.pageCount);
  }

  isDirty(page: number): boolean {
    this.#checkPage(page);
    return ((Atomics.load(this.#words, page >>> 5) >>> (page & 31)) & 1) === 1;
  }

  /** Number of dirty pages now (a moment's view while other threads keep marking). */
  count(): number {
    let n = 0;
    for (let w = 0; w < this.#words.length; w++) n += popcount32(Atomics.load(this.#words, w));
    return n;
  }

  /**
   * Take the dirty set and clear it, word by word, atomically per word: a page
   * marked during the harvest lands in this snapshot or stays set for the next
   * one. Pair with "copy the page after harvesting it" (see GuestMemory's
   * write-then-mark order) and no write is ever missed.
   */
  fetchAndClear(): DirtySnapshot {
    // In native code (host/bit-words.ts): a migration's stop harvests inside
    // its downtime, before V8 has optimised a loop it ran a few dozen times.
    const out = new Uint32Array(this.#words.length);
    harvestBits(this.#words, out);
    return new DirtySnapshot(this.pageCount, out);
  }

  #checkPage(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) {
      throw new RangeError(`page ${page} is outside the dirty bitmap (0..${this.pageCount - 1})`);
    }
  }
}

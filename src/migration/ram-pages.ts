/**
 * RAM records for the migration stream: zero-page detection and the page
 * lists of each pass. Pure functions over guest memory; the source decides
 * when to call them and where the bytes go.
 */

import { bitIndices } from '../host/index.js';
import type { GuestMemory } from '../memory/index.js';
import type { DirtySnapshot } from '../memory/index.js';
import type { StreamEncoder } from '../stream/index.js';
import { RAM_BLOCK_NAME } from './vmig-sections.js';

const PAGE = 4096;
const WORDS_PER_PAGE = PAGE / 4;

/** Reads guest pages as 32-bit words for the zero check (one view per RAM). */
export class PageScanner {
  readonly #words: Int32Array;
  readonly #mem: GuestMemory;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
    this.#words = new Int32Array(mem.bytes.buffer, mem.bytes.byteOffset, mem.size >>> 2);
  }

  /** True when every byte of the page is zero (checked 8 words at a time, leaving at the first non-zero). */
  isZero(page: number): boolean {
    const w = this.#words;
    const end = (page + 1) * WORDS_PER_PAGE;
    for (let i = page * WORDS_PER_PAGE; i < end; i += 8) {
      if ((w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]! | w[i + 4]! | w[i + 5]! | w[i + 6]! | w[i + 7]!) !== 0) return false;
    }
    return true;
  }

  /**
   * Append one record per page of pages[from, to): ZERO for an all-zero page,
   * PAGE (a copy of its bytes) otherwise. Returns how many were zero.
   */
  encode(enc: StreamEncoder, pages: Uint32Array, from: number, to: number): number {
    let zeros = 0;
    const bytes = this.#mem.bytes;
    for (let i = from; i < to; i++) {
      const page = pages[i]!;
      const addr = page * PAGE;
      if (this.isZero(page)) {
        enc.ramZero(RAM_BLOCK_NAME, addr);
        zeros++;
      } else {
        enc.ramPage(RAM_BLOCK_NAME, addr, bytes.subarray(addr, addr + PAGE));
      }
    }
    return zeros;
  }
}

/** Every page of RAM (the first pass). */
export function allPages(pageCount: number): Uint32Array {
  const out = new Uint32Array(pageCount);
  for (let i = 0; i < pageCount; i++) out[i] = i;
  return out;
}

/** The pages set in `a` or `b`, ascending (the stop merges the last pass's remainder with what the guest dirtied since). */
export function pagesOf(a: DirtySnapshot, b?: DirtySnapshot): Uint32Array {
  if (b && b.words.length !== a.words.length) throw new RangeError(`snapshots of ${a.pageCount} and ${b.pageCount} pages cannot be merged`);
  return bitIndices(a.words, b?.words);
}

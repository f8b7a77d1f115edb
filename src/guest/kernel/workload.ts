/**
 * The verifiable memory workload (DESIGN §3, like QEMU's migration-test
 * guest): it rewrites pages of a RAM region at a configured dirty rate, each
 * page filled with a pattern derived from (page number, generation), and
 * continuously re-reads pages to check they still hold the pattern of the
 * generation recorded for them. A page that migration failed to copy (a
 * missed dirty bit, a stale page) shows up as a verification error.
 *
 * State (in guest RAM, at the workload state pointer):
 *   0x00 u32 pages          0x04 u32 write cursor     0x08 u32 verify cursor
 *   0x10 u64 pages verified 0x18 u64 errors           0x20 u64 bytes written
 *   0x28 u64 last step (guest ns)                      0x30 u64 write credit (bytes)
 *   0x40 u32 × pages: generation of each page (0 = never written: all zero)
 */

import type { GuestMemory } from '../../memory/index.js';

const PAGE = 4096;
const WORDS = PAGE / 4;
const W_PAGES = 0x00;
const W_WCUR = 0x04;
const W_VCUR = 0x08;
const W_VERIFIED = 0x10;
const W_ERRORS = 0x18;
const W_WRITTEN = 0x20;
const W_LAST = 0x28;
const W_CREDIT = 0x30;
const W_GEN = 0x40;

export function workloadStateBytes(pages: number): number {
  return W_GEN + pages * 4;
}

/** The 32-bit word `i` of `page` at generation `gen` (gen 0: zero). */
export function patternWord(page: number, gen: number, i: number): number {
  if (gen === 0) return 0;
  return (Math.imul(page + 1, 0x9e3779b1) ^ Math.imul(gen, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

export interface WorkloadStats {
  pages: number;
  verified: number;
  errors: number;
  bytesWritten: number;
}

export class MemoryWorkload {
  readonly #mem: GuestMemory;
  readonly #state: number;
  readonly #base: number;
  readonly #rate: number;
  readonly #words: Uint32Array;

  constructor(mem: GuestMemory, statePtr: number, base: number, dirtyRate: number) {
    this.#mem = mem;
    this.#state = statePtr;
    this.#base = base;
    this.#rate = dirtyRate;
    this.#words = new Uint32Array(mem.bytes.buffer, mem.bytes.byteOffset, Math.floor(mem.size / 4));
  }

  /** Set up a fresh workload over `pages` pages (first boot only). */
  init(pages: number, nowNs: bigint): void {
    this.#mem.fill(this.#state, workloadStateBytes(pages), 0);
    this.#mem.writeU32(this.#state + W_PAGES, pages);
    this.#mem.writeU64(this.#state + W_LAST, nowNs);
  }

  stats(): WorkloadStats {
    const m = this.#mem;
    return {
      pages: m.readU32(this.#state + W_PAGES),
      verified: Number(m.readU64(this.#state + W_VERIFIED)),
      errors: Number(m.readU64(this.#state + W_ERRORS)),
      bytesWritten: Number(m.readU64(this.#state + W_WRITTEN)),
    };
  }

  /**
   * Write pages for the time since the last step (at the dirty rate) and
   * verify up to `verifyPages` pages; bounded by `budgetNs` of host time.
   * Returns true when writes are still owed (the kernel should come back soon).
   */
  step(nowNs: bigint, verifyPages: number, budgetNs: bigint, clock: () => bigint): boolean {
    const m = this.#mem;
    const s = this.#state;
    const pages = m.readU32(s + W_PAGES);
    if (pages === 0) return false;
    const last = m.readU64(s + W_LAST);
    let credit = m.readU64(s + W_CREDIT);
    if (nowNs > last) {
      credit += ((nowNs - last) * BigInt(this.#rate)) / 1_000_000_000n;
      // Do not bank more than a second of writes (after a pause the guest does not catch up in a burst).
      const cap = BigInt(Math.max(this.#rate, PAGE));
      if (credit > cap) credit = cap;
    }
    m.writeU64(s + W_LAST, nowNs);
    const deadline = clock() + budgetNs;
    let wcur = m.readU32(s + W_WCUR);
    let written = 0;
    while (credit >= BigInt(PAGE) && clock() < deadline) {
      this.#writePage(wcur);
      wcur = (wcur + 1) % pages;
      credit -= BigInt(PAGE);
      written++;
    }
    m.writeU32(s + W_WCUR, wcur);
    m.writeU64(s + W_CREDIT, credit);
    m.writeU64(s + W_WRITTEN, m.readU64(s + W_WRITTEN) + BigInt(written * PAGE));
    let vcur = m.readU32(s + W_VCUR);
    let verified = 0;
    let errors = 0;
    for (let n = 0; n < verifyPages && clock() < deadline + budgetNs; n++) {
      if (this.#checkPage(vcur)) verified++;
      else errors++;
      vcur = (vcur + 1) % pages;
    }
    m.writeU32(s + W_VCUR, vcur);
    if (verified) m.writeU64(s + W_VERIFIED, m.readU64(s + W_VERIFIED) + BigInt(verified));
    if (errors) m.writeU64(s + W_ERRORS, m.readU64(s + W_ERRORS) + BigInt(errors));
    return credit >= BigInt(PAGE);
  }

  #writePage(page: number): void {
    const m = this.#mem;
    const genAt = this.#state + W_GEN + page * 4;
    const gen = (m.readU32(genAt) + 1) >>> 0 || 1;
    const gpa = this.#base + page * PAGE;
    const w0 = gpa / 4;
    for (let i = 0; i < WORDS; i++) this.#words[w0 + i] = patternWord(page, gen, i);
    m.markDirty(gpa, PAGE);
    // The page first, then its generation: both land in one slice, and a
    // pause only happens between slices.
    m.writeU32(genAt, gen);
  }

  #checkPage(page: number): boolean {
    const gen = this.#mem.readU32(this.#state + W_GEN + page * 4);
    const w0 = (this.#base + page * PAGE) / 4;
    for (let i = 0; i < WORDS; i++) if (this.#words[w0 + i] !== patternWord(page, gen, i)) return false;
    return true;
  }
}

/**
 * Copying bytes into or out of guest RAM.
 *
 * Guest RAM is a SharedArrayBuffer, and V8 copies to or from shared memory
 * (TypedArray.prototype.set) with relaxed atomic accesses, a word or a byte
 * at a time: a perf profile of a switchover had V8's relaxed_memmove among
 * the top symbols of both VMMs, copying the final pages out of RAM into the
 * stream and into RAM on the other side. Page-sized copies go through the
 * addon's memmove instead; small ones stay in JavaScript, where the call
 * into native code would cost more than it saves (bench in
 * docs/BENCHMARKS.md, bench:codec).
 */

import { native } from './native.js';

/** Below this many bytes TypedArray.set is used. */
export const NATIVE_COPY_MIN_BYTES = 512;

/** All of `src` into `dst` at `dstOffset` (a RangeError-like VmigError when it does not fit). */
export function copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array): void {
  if (src.length < NATIVE_COPY_MIN_BYTES) dst.set(src, dstOffset);
  else native().copyBytes(dst, dstOffset, src, 0, src.length);
}

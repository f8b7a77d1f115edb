/**
 * A bitmap's words scanned in native code (the addon's harvestBits and
 * bitIndices): the dirty bitmap's harvest at a migration's stop, and the
 * list of the pages it names.
 *
 * Why native: both scans run once per pass, and the stop's — the one inside
 * the downtime — is the process's first with two snapshots merged. A trace of
 * the stop (docs/BENCHMARKS.md, session 8) had the harvest and the listing
 * of a 256 MiB guest's 2048 words at 0.19 and 0.43 ms: V8 had not optimised
 * them yet (optimised, ~70 µs together). Here they take microseconds
 * whatever V8 has compiled.
 */

import { native } from './native.js';

/**
 * Move every word of `shared` (a bitmap other threads set bits in) into
 * `out`, which must be as long: each non-zero word is exchanged for 0
 * atomically, so a bit set meanwhile is in this harvest or stays for the
 * next. Returns the number of bits moved.
 */
export function harvestBits(shared: Uint32Array, out: Uint32Array): number {
  return native().harvestBits(shared, out);
}

/** The indices of the bits set in `a` (or `a | b`, as long as `a`), ascending. */
export function bitIndices(a: Uint32Array, b?: Uint32Array): Uint32Array {
  const n = native();
  const count = n.bitIndices(a, b ?? null, EMPTY);
  const out = new Uint32Array(count);
  if (count > 0) n.bitIndices(a, b ?? null, out);
  return out;
}

const EMPTY = new Uint32Array(0);

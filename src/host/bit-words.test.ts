import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { bitIndices, harvestBits } from './bit-words.js';
import { native } from './native.js';

/** The reference: every set bit of a | b, ascending. */
function indicesOf(a: Uint32Array, b?: Uint32Array): number[] {
  const out: number[] = [];
  for (let w = 0; w < a.length; w++) {
    const v = (a[w]! | (b?.[w] ?? 0)) >>> 0;
    for (let bit = 0; bit < 32; bit++) if ((v >>> bit) & 1) out.push(w * 32 + bit);
  }
  return out;
}

const words = (n: number) => fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: n, maxLength: n }).map((a) => Uint32Array.from(a));

test('property: bitIndices lists the bits of a, or of a | b, ascending', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(words(n), words(n))), ([a, b]) => {
      assert.deepEqual([...bitIndices(a)], indicesOf(a));
      assert.deepEqual([...bitIndices(a, b)], indicesOf(a, b));
    }),
  );
});

test('property: harvestBits moves every word out, counts its bits, and leaves the bitmap clean', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 40 }).chain((n) => words(n)), (a) => {
      const shared = new Uint32Array(new SharedArrayBuffer(a.length * 4));
      shared.set(a);
      const out = new Uint32Array(a.length).fill(0xdead_beef);
      assert.equal(harvestBits(shared, out), indicesOf(a).length);
      assert.deepEqual(out, a);
      assert.ok(shared.every((w) => w === 0));
    }),
  );
});

test('bit 31 and the last word are listed as u32 indices', () => {
  const a = new Uint32Array(2048);
  a[0] = 0x8000_0001;
  a[2047] = 0x8000_0000;
  assert.deepEqual([...bitIndices(a)], [0, 31, 2047 * 32 + 31]);
});

test('mismatched lengths and other element types are refused, nothing written', () => {
  const shared = new Uint32Array([1, 2]);
  assert.throws(() => harvestBits(shared, new Uint32Array(1)), (e: Error & { code?: string }) => e.code === 'ERR_HOST_OUT_OF_RANGE');
  assert.deepEqual([...shared], [1, 2], 'a refused harvest took nothing');
  assert.throws(() => bitIndices(shared, new Uint32Array(3)), (e: Error & { code?: string }) => e.code === 'ERR_HOST_OUT_OF_RANGE');
  assert.throws(() => harvestBits(new Int32Array(2) as unknown as Uint32Array, new Uint32Array(2)), (e: Error & { code?: string }) => e.code === 'ERR_HOST_INVALID_ARG_TYPE');
  assert.throws(() => native().bitIndices(shared, null, new Uint8Array(4) as unknown as Uint32Array), (e: Error & { code?: string }) => e.code === 'ERR_HOST_INVALID_ARG_TYPE');
});

test('bitIndices fills only what fits and still counts every bit (the count-then-fill protocol)', () => {
  const a = Uint32Array.of(0b1011);
  const out = new Uint32Array(2);
  assert.equal(native().bitIndices(a, null, out), 3);
  assert.deepEqual([...out], [0, 1]);
});

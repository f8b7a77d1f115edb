import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NATIVE_COPY_MIN_BYTES, copyBytes } from './copy-bytes.js';
import { native } from './native.js';

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

test('copies a page out of shared memory and into it, at any offset, exactly', () => {
  const ram = new Uint8Array(new SharedArrayBuffer(3 * 4096));
  ram.set(pattern(4096, 7), 4096);
  const out = new Uint8Array(5000).fill(0xee);
  copyBytes(out, 3, ram.subarray(4096, 8192));
  assert.deepEqual(out.subarray(3, 4099), pattern(4096, 7));
  assert.equal(out[2], 0xee, 'nothing before');
  assert.equal(out[4099], 0xee, 'nothing after');
  copyBytes(ram, 8192, out.subarray(3, 4099));
  assert.deepEqual(ram.subarray(8192), pattern(4096, 7));
});

test('small copies and plain memory give the same bytes', () => {
  for (const n of [0, 1, NATIVE_COPY_MIN_BYTES - 1, NATIVE_COPY_MIN_BYTES, 4096]) {
    const dst = new Uint8Array(n + 10);
    copyBytes(dst, 5, pattern(n, n));
    assert.deepEqual(dst.subarray(5, 5 + n), pattern(n, n), `${n} bytes`);
  }
});

test('a copy that does not fit is refused with a typed error, and nothing is written', () => {
  const dst = new Uint8Array(new SharedArrayBuffer(4096));
  assert.throws(() => copyBytes(dst, 1, pattern(4096, 1)), (e: unknown) => (e as { code?: string }).code === 'ERR_HOST_OUT_OF_RANGE');
  assert.ok(dst.every((b) => b === 0));
  assert.throws(() => native().copyBytes(dst, 0, pattern(600, 1), 100, 600), (e: unknown) => (e as { code?: string }).code === 'ERR_HOST_OUT_OF_RANGE', 'the source is bounds-checked too');
});

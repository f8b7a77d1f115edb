import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VmigError } from './errors.js';
import { U16_MASK, U32_MAX, U64_MAX, addU16, assertBigIntFits, distanceU16, hex, isU16, isU64, toSafeNumber, wrapU16 } from './numeric.js';

describe('u16 ring-index arithmetic', () => {
  test('wrapU16 reduces any integer modulo 2^16, negatives included', () => {
    assert.equal(wrapU16(0), 0);
    assert.equal(wrapU16(0xffff), 0xffff);
    assert.equal(wrapU16(0x10000), 0);
    assert.equal(wrapU16(0x12345), 0x2345);
    assert.equal(wrapU16(-1), 0xffff);
  });

  test('addU16 wraps past 0xffff', () => {
    assert.equal(addU16(0xffff, 1), 0);
    assert.equal(addU16(0xfffe, 5), 3);
    assert.equal(addU16(10, 20), 30);
    assert.equal(addU16(0x8000, 0x8000), 0);
  });

  test('distanceU16 measures how far `to` is ahead of `from` across the wrap', () => {
    assert.equal(distanceU16(0xfffe, 1), 3);
    assert.equal(distanceU16(5, 5), 0);
    assert.equal(distanceU16(1, 0), 0xffff);
    assert.equal(distanceU16(0, 0x8000), 0x8000);
    assert.equal(distanceU16(100, 356), 256);
  });

  test('addU16(from, distanceU16(from, to)) gives back `to` for sample indices', () => {
    for (const from of [0, 1, 0x7fff, 0xfffe, 0xffff]) {
      for (const to of [0, 2, 0x8000, 0xffff]) assert.equal(addU16(from, distanceU16(from, to)), to);
    }
  });

  test('isU16 accepts integers in [0, 65535] only', () => {
    assert.equal(isU16(0), true);
    assert.equal(isU16(0xffff), true);
    assert.equal(isU16(0x10000), false);
    assert.equal(isU16(-1), false);
    assert.equal(isU16(1.5), false);
  });

  test('the mask and max constants have their textbook values', () => {
    assert.equal(U16_MASK, 65535);
    assert.equal(U32_MAX, 4294967295);
    assert.equal(U64_MAX, 18446744073709551615n);
  });
});

describe('64-bit guards', () => {
  test('isU64 accepts [0, 2^64-1] only', () => {
    assert.equal(isU64(0n), true);
    assert.equal(isU64((1n << 64n) - 1n), true);
    assert.equal(isU64(1n << 64n), false);
    assert.equal(isU64(-1n), false);
  });

  test('toSafeNumber returns numbers up to 2^53-1 exactly', () => {
    assert.equal(toSafeNumber(0n, 'x'), 0);
    assert.equal(toSafeNumber(9007199254740991n, 'x'), Number.MAX_SAFE_INTEGER);
  });

  test('toSafeNumber refuses 2^53 and negatives with VmigError ERR_CORE_UNSAFE_INTEGER naming the value', () => {
    for (const v of [1n << 53n, U64_MAX, -1n]) {
      assert.throws(
        () => toSafeNumber(v, 'RAM block length'),
        (err: unknown) => {
          assert.ok(err instanceof VmigError);
          assert.equal(err.code, 'ERR_CORE_UNSAFE_INTEGER');
          assert.equal(err.details.what, 'RAM block length');
          assert.match(err.message, /RAM block length/);
          return true;
        },
      );
    }
    assert.throws(() => toSafeNumber(1n << 53n, 'x'), (err: unknown) => err instanceof VmigError && err.details.value === '0x20000000000000');
  });

  test('assertBigIntFits checks unsigned and signed 64-bit ranges with RangeError', () => {
    assertBigIntFits(U64_MAX, 64, false, 'u');
    assertBigIntFits(-(1n << 63n), 64, true, 's');
    assertBigIntFits((1n << 63n) - 1n, 64, true, 's');
    assert.throws(() => assertBigIntFits(1n << 64n, 64, false, 'u'), RangeError);
    assert.throws(() => assertBigIntFits(-1n, 64, false, 'u'), RangeError);
    assert.throws(() => assertBigIntFits(1n << 63n, 64, true, 's'), RangeError);
    assert.throws(() => assertBigIntFits(-(1n << 63n) - 1n, 64, true, 's'), /s: .* does not fit in i64/);
  });
});

describe('hex', () => {
  test('hex prints lower-case 0x-prefixed digits for numbers and bigints', () => {
    assert.equal(hex(255), '0xff');
    assert.equal(hex(0), '0x0');
    assert.equal(hex(0xdeadbeefn), '0xdeadbeef');
    assert.equal(hex(U64_MAX), '0xffffffffffffffff');
  });

  test('hex pads to the requested digit count and keeps the sign outside the prefix', () => {
    assert.equal(hex(0x2a, 4), '0x002a');
    assert.equal(hex(0x12345, 2), '0x12345');
    assert.equal(hex(-5), '-0x5');
    assert.equal(hex(-0x10n, 4), '-0x0010');
  });
});

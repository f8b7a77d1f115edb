/** The Internet checksum (RFC 1071) against published examples, and its algebra. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { finishChecksum, foldChecksum, internetChecksum, ipv4PseudoHeaderSum, isChecksumValid, onesComplementSum } from './checksum.js';
import { hex } from './net-test-kit.js';

describe('Internet checksum', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d', () => {
    const bytes = hex('00 01 f2 03 f4 f5 f6 f7');
    assert.equal(foldChecksum(onesComplementSum(bytes, 0, 8)), 0xddf2);
    assert.equal(internetChecksum(bytes, 0, 8), 0x220d);
  });

  it('the standard IPv4 header example (192.168.0.1 → 192.168.0.199, UDP) has checksum 0xb861', () => {
    const header = hex(`
      45 00 00 73 | 00 00 40 00 | 40 11 00 00   # checksum field zeroed
      c0 a8 00 01 | c0 a8 00 c7`);
    assert.equal(internetChecksum(header, 0, 20), 0xb861);
    header[10] = 0xb8;
    header[11] = 0x61;
    assert.ok(isChecksumValid(header, 0, 20));
    header[15] = header[15]! ^ 1;
    assert.ok(!isChecksumValid(header, 0, 20));
  });

  it('an odd trailing byte counts as the high byte of a zero-padded word', () => {
    assert.equal(onesComplementSum(hex('12 34 56'), 0, 3), 0x1234 + 0x5600);
  });

  it('sums of even-length spans add (so pseudo-header, header and payload can be summed apart)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(150), (bytes, half) => {
        const split = Math.min(half * 2, bytes.length - (bytes.length % 2));
        const whole = foldChecksum(onesComplementSum(bytes, 0, bytes.length));
        const parts = foldChecksum(onesComplementSum(bytes, split, bytes.length - split, onesComplementSum(bytes, 0, split)));
        return whole === parts;
      }),
    );
  });

  it('data followed by its checksum always verifies', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const even = data.length + (data.length % 2);
        const bytes = new Uint8Array(even + 2);
        bytes.set(data);
        const sum = internetChecksum(bytes, 0, even);
        bytes[even] = sum >>> 8;
        bytes[even + 1] = sum & 0xff;
        return isChecksumValid(bytes, 0, bytes.length);
      }),
    );
  });

  it('folds sums far beyond 32 bits exactly', () => {
    assert.equal(foldChecksum(0xffff * 100_000), 0xffff);
    assert.equal(finishChecksum(0), 0xffff);
    assert.equal(foldChecksum(0x1_0000), 1);
  });

  it('the pseudo-header sum is the sum of its words (RFC 768)', () => {
    const pseudo = hex('c0 a8 00 01  c0 a8 00 02  00 11 00 12');
    assert.equal(foldChecksum(ipv4PseudoHeaderSum(0xc0a8_0001, 0xc0a8_0002, 17, 18)), foldChecksum(onesComplementSum(pseudo, 0, 12)));
  });
});

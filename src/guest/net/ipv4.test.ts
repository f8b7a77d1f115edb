/** IPv4 header parse/build (RFC 791): the standard checksum example, each receive rule, options, padding. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import { internetChecksum } from './checksum.js';
import { DropReason } from './drop-reason.js';
import { IPPROTO_UDP, Ipv4Header, parseIpv4Header, writeIpv4Header } from './ipv4.js';
import { hex, toHex, xorByte } from './net-test-kit.js';

// The widely used example header: 192.168.0.1 → 192.168.0.199, UDP, DF, TTL 64, total length 0x73, checksum 0xb861.
function exampleDatagram(): Uint8Array {
  const bytes = new Uint8Array(0x73);
  bytes.set(hex('45 00 00 73  00 00 40 00  40 11 b8 61  c0 a8 00 01  c0 a8 00 c7'));
  return bytes;
}

/** Re-checksum a header after a test edits it, so only the edited rule can fail. */
function fixChecksum(bytes: Uint8Array, headerLength = 20): void {
  bytes[10] = 0;
  bytes[11] = 0;
  const sum = internetChecksum(bytes, 0, headerLength);
  bytes[10] = sum >>> 8;
  bytes[11] = sum & 0xff;
}

describe('IPv4 header', () => {
  it('parses the standard example (checksum 0xb861 verifies)', () => {
    const ip = new Ipv4Header();
    assert.equal(parseIpv4Header(exampleDatagram(), 0, 0x73, ip), DropReason.None);
    assert.deepEqual(
      { ...ip },
      {
        headerLength: 20,
        tos: 0,
        totalLength: 0x73,
        identification: 0,
        dontFragment: true,
        moreFragments: false,
        fragmentOffset: 0,
        ttl: 64,
        protocol: IPPROTO_UDP,
        headerChecksum: 0xb861,
        srcIp: 0xc0a8_0001,
        dstIp: 0xc0a8_00c7,
        optionsLength: 0,
        payloadOffset: 20,
        payloadLength: 0x73 - 20,
      },
    );
  });

  it('builds the same header byte for byte', () => {
    const out = new Uint8Array(20);
    writeIpv4Header(out, 0, 20, IPPROTO_UDP, { srcIp: 0xc0a8_0001, dstIp: 0xc0a8_00c7, ttl: 64, identification: 0, dontFragment: true }, 0x73 - 20);
    assert.equal(toHex(out), toHex(exampleDatagram().subarray(0, 20)));
  });

  it('ignores Ethernet padding after the total length', () => {
    const padded = new Uint8Array(0x73 + 10);
    padded.set(exampleDatagram());
    const ip = new Ipv4Header();
    assert.equal(parseIpv4Header(padded, 0, padded.length, ip), DropReason.None);
    assert.equal(ip.payloadLength, 0x73 - 20);
  });

  it('skips options: IHL 6 puts the payload at 24', () => {
    const bytes = new Uint8Array(40);
    bytes.set(hex('46 00 00 28  12 34 00 00  01 01 00 00  0a 00 00 01  0a 00 00 02  94 04 00 00')); // Router Alert option
    fixChecksum(bytes, 24);
    const ip = new Ipv4Header();
    assert.equal(parseIpv4Header(bytes, 0, 40, ip), DropReason.None);
    assert.deepEqual([ip.headerLength, ip.optionsLength, ip.payloadOffset, ip.payloadLength, ip.ttl], [24, 4, 24, 16, 1]);
  });

  it('drops each invalid header with its own reason, in ip_rcv order', () => {
    const ip = new Ipv4Header();
    const cases: [string, (b: Uint8Array) => number, DropReason][] = [
      ['19 bytes', () => 19, DropReason.Ipv4Truncated],
      ['version 6', (b) => ((b[0] = 0x65), b.length), DropReason.Ipv4BadVersion],
      ['IHL 4', (b) => ((b[0] = 0x44), fixChecksum(b), b.length), DropReason.Ipv4BadHeaderLength],
      ['IHL 15 past a 40-byte frame', (b) => ((b[0] = 0x4f), 40), DropReason.Ipv4BadHeaderLength],
      ['total length 19', (b) => ((b[2] = 0), (b[3] = 19), fixChecksum(b), b.length), DropReason.Ipv4BadTotalLength],
      ['total length past the frame', (b) => b.length - 1, DropReason.Ipv4BadTotalLength],
      ['checksum', (b) => (xorByte(b, 11, 1), b.length), DropReason.Ipv4BadChecksum],
      ['MF set', (b) => ((b[6] = 0x20), fixChecksum(b), b.length), DropReason.Ipv4Fragment],
      ['offset 1', (b) => ((b[6] = 0x40), (b[7] = 1), fixChecksum(b), b.length), DropReason.Ipv4Fragment],
      ['offset, no flags', (b) => ((b[6] = 0x1f), (b[7] = 0xff), fixChecksum(b), b.length), DropReason.Ipv4Fragment],
    ];
    for (const [what, edit, reason] of cases) {
      const bytes = exampleDatagram();
      const length = edit(bytes);
      assert.equal(parseIpv4Header(bytes, 0, length, ip), reason, what);
    }
  });

  it('keeps TTL 0 (not a reason to drop a datagram for us, RFC 1122 §3.2.1.7) and accepts an unchecked header on request', () => {
    const bytes = exampleDatagram();
    bytes[8] = 0;
    fixChecksum(bytes);
    const ip = new Ipv4Header();
    assert.equal(parseIpv4Header(bytes, 0, bytes.length, ip), DropReason.None);
    assert.equal(ip.ttl, 0);
    xorByte(bytes, 11, 0xff);
    assert.equal(parseIpv4Header(bytes, 0, bytes.length, ip, false), DropReason.None);
  });

  it('refuses to build what it must not send', () => {
    const out = new Uint8Array(20);
    const fields = { srcIp: 1, dstIp: 2, ttl: 64, identification: 0 };
    assert.throws(() => writeIpv4Header(out, 0, 20, IPPROTO_UDP, { ...fields, ttl: 0 }, 0), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => writeIpv4Header(out, 0, 20, IPPROTO_UDP, fields, 65516), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => writeIpv4Header(out, 0, 19, IPPROTO_UDP, fields, 0), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => writeIpv4Header(out, 0, 20, 256, fields, 0), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });

  it('build → parse round-trips every field it writes', () => {
    fc.assert(
      fc.property(
        fc.record({
          protocol: fc.integer({ min: 0, max: 255 }),
          srcIp: fc.integer({ min: 0, max: 0xffff_ffff }),
          dstIp: fc.integer({ min: 0, max: 0xffff_ffff }),
          ttl: fc.integer({ min: 1, max: 255 }),
          identification: fc.integer({ min: 0, max: 0xffff }),
          tos: fc.integer({ min: 0, max: 255 }),
          dontFragment: fc.boolean(),
          payloadLength: fc.integer({ min: 0, max: 100 }),
        }),
        (f) => {
          const bytes = new Uint8Array(20 + f.payloadLength);
          writeIpv4Header(bytes, 0, bytes.length, f.protocol, f, f.payloadLength);
          const ip = new Ipv4Header();
          assert.equal(parseIpv4Header(bytes, 0, bytes.length, ip), DropReason.None);
          assert.deepEqual(
            [ip.protocol, ip.srcIp, ip.dstIp, ip.ttl, ip.identification, ip.tos, ip.dontFragment, ip.payloadLength],
            [f.protocol, f.srcIp, f.dstIp, f.ttl, f.identification, f.tos, f.dontFragment, f.payloadLength],
          );
        },
      ),
    );
  });
});

/** struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6) and NEEDS_CSUM completion. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import { DropReason } from './drop-reason.js';
import { NO_VLAN_TAG } from './ethernet.js';
import { OUR_MAC, PEER_MAC, hex, toHex } from './net-test-kit.js';
import { UdpHeader, buildUdpFrame, parseUdpDatagram, udpFramePayloadOffset } from './udp.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VirtioNetHeader,
  completePartialChecksum,
  parseVirtioNetHeader,
  writeVirtioNetHeader,
} from './virtio-net-header.js';

describe('virtio_net_hdr_v1', () => {
  it('is 12 little-endian bytes: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers', () => {
    const golden = hex(`
      01        # flags: NEEDS_CSUM
      01        # gso_type: TCPV4
      36 00     # hdr_len 54
      a8 05     # gso_size 1448
      22 00     # csum_start 34
      10 00     # csum_offset 16
      01 00     # num_buffers 1`);
    const header = new VirtioNetHeader();
    assert.equal(parseVirtioNetHeader(golden, 0, 12, header), DropReason.None);
    assert.deepEqual({ ...header }, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16, numBuffers: 1 });
    const out = new Uint8Array(12);
    assert.equal(writeVirtioNetHeader(out, 0, 12, header), 12);
    assert.equal(toHex(out), toHex(golden));
  });

  it('drops a buffer shorter than the header; refuses out-of-range fields on write', () => {
    assert.equal(parseVirtioNetHeader(new Uint8Array(11), 0, 11, new VirtioNetHeader()), DropReason.VirtioHeaderTruncated);
    const header = Object.assign(new VirtioNetHeader(), { csumStart: 0x10000 });
    assert.throws(() => writeVirtioNetHeader(new Uint8Array(12), 0, 12, header), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => writeVirtioNetHeader(new Uint8Array(12), 0, 11, new VirtioNetHeader()), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
  });

  it('write → parse round-trips every field', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const u8 = fc.integer({ min: 0, max: 0xff });
    fc.assert(
      fc.property(fc.record({ flags: u8, gsoType: u8, hdrLen: u16, gsoSize: u16, csumStart: u16, csumOffset: u16, numBuffers: u16 }), (fields) => {
        const out = new Uint8Array(20);
        writeVirtioNetHeader(out, 4, 16, fields);
        const header = new VirtioNetHeader();
        assert.equal(parseVirtioNetHeader(out, 4, 12, header), DropReason.None);
        assert.deepEqual({ ...header }, { ...fields });
      }),
    );
  });
});

describe('VIRTIO_NET_HDR_F_NEEDS_CSUM completion', () => {
  it('completes a UDP checksum left partial by the sender (pseudo-header sum at csum_start + 6)', () => {
    const out = new Uint8Array(100);
    const payload = new TextEncoder().encode('vmig-probe');
    out.set(payload, udpFramePayloadOffset(NO_VLAN_TAG));
    const fields = { dstMac: OUR_MAC, srcMac: PEER_MAC, vlanTci: NO_VLAN_TAG, srcIp: 0xc0a8_0001, dstIp: 0xc0a8_0002, srcPort: 40000, dstPort: 7777, ttl: 64, identification: 0 };
    const length = buildUdpFrame(out, 0, 100, { ...fields, checksumMode: 'partial' }, payload.length);
    const udp = new UdpHeader();
    assert.equal(parseUdpDatagram(out, 34, length - 34, fields.srcIp, fields.dstIp, udp), DropReason.UdpBadChecksum, 'partial as received');
    assert.equal(udp.checksum, 0x8177, 'c0a8 + 0001 + c0a8 + 0002 + 0011 + 0012, folded');
    assert.equal(completePartialChecksum(out, 0, length, 34, 6), DropReason.None);
    assert.equal(parseUdpDatagram(out, 34, length - 34, fields.srcIp, fields.dstIp, udp), DropReason.None);
    assert.equal(udp.checksum, 0xe1ba, 'the same value as the full checksum of this datagram (icmp-udp.test.ts)');
  });

  it('writes 0xffff rather than 0, like skb_checksum_help', () => {
    const frame = new Uint8Array(4); // sum over all-zero bytes is 0 → ~0 = 0xffff; then a field that sums to 0xffff
    assert.equal(completePartialChecksum(frame, 0, 4, 0, 2), DropReason.None);
    assert.equal(toHex(frame), '0000ffff');
    const ones = hex('ff ff 00 00');
    assert.equal(completePartialChecksum(ones, 0, 4, 0, 2), DropReason.None);
    assert.equal(toHex(ones), 'ffffffff', 'computed 0 is stored as 0xffff');
  });

  it('refuses offsets outside the frame and writes nothing', () => {
    const frame = new Uint8Array(40).fill(0x11);
    for (const [start, offset] of [[40, 0], [38, 1], [0, 39], [30, 9], [0xffff, 0xffff]] as const) {
      assert.equal(completePartialChecksum(frame, 0, 40, start, offset), DropReason.VirtioBadPartialChecksum, `${start}/${offset}`);
    }
    assert.ok(frame.every((b) => b === 0x11));
    assert.equal(completePartialChecksum(frame, 0, 40, 30, 8), DropReason.None, 'the last two bytes are a valid field');
  });

  it('after completion, span + the partial value that was in the field sum to 0xffff (what a receiver adding the pseudo-header checks)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 120 }), fc.nat(), fc.nat(), (frame, a, b) => {
        const start = a % (frame.length - 1);
        const offset = (b % (frame.length - start - 1)) & ~1; // L4 checksum fields sit at even offsets (UDP 6, TCP 16)
        const partial = (frame[start + offset]! << 8) | frame[start + offset + 1]!;
        const before = frame.slice();
        assert.equal(completePartialChecksum(frame, 0, frame.length, start, offset), DropReason.None);
        let sum = partial;
        for (let i = start; i < frame.length; i += 2) sum += (frame[i]! << 8) | (frame[i + 1] ?? 0);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        assert.equal(sum, 0xffff);
        before.set(frame.subarray(start + offset, start + offset + 2), start + offset);
        assert.deepEqual(frame, before, 'only the field changed');
      }),
    );
  });
});

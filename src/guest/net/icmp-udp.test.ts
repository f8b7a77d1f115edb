/** ICMP echo (RFC 792) and UDP (RFC 768): golden checksums, length rules, checksum modes, frame builders. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import { DropReason } from './drop-reason.js';
import { ETH_HLEN, EthernetHeader, NO_VLAN_TAG, makeVlanTci, parseEthernetHeader } from './ethernet.js';
import { ICMP_ECHO, ICMP_ECHOREPLY, IcmpMessage, buildIcmpEchoFrame, icmpEchoFrameDataOffset, parseIcmpMessage, writeIcmpEcho } from './icmp.js';
import { IPPROTO_ICMP, IPPROTO_UDP, Ipv4Header, parseIpv4Header } from './ipv4.js';
import { OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, hex, toHex, xorByte } from './net-test-kit.js';
import { UdpHeader, buildUdpFrame, parseUdpDatagram, udpFramePayloadOffset, udpHeaderOffsetInFrame, writeUdpHeader } from './udp.js';
import type { UdpChecksumMode } from './udp.js';
import { completePartialChecksum } from './virtio-net-header.js';

const WINDOWS_PING_DATA = new TextEncoder().encode('abcdefghijklmnopqrstuvwabcdefghi');
const SRC = 0xc0a8_0001; // 192.168.0.1
const DST = 0xc0a8_0002; // 192.168.0.2

describe('ICMP echo', () => {
  it("Windows ping's echo request (id 1, seq 1, 'abcdefghijklmnopqrstuvwabcdefghi') has checksum 0x4d5a", () => {
    const message = new Uint8Array(40);
    message.set(WINDOWS_PING_DATA, 8);
    writeIcmpEcho(message, 0, 40, ICMP_ECHO, 1, 1, 32);
    assert.equal(toHex(message.subarray(0, 8)), '08004d5a00010001');
    const icmp = new IcmpMessage();
    assert.equal(parseIcmpMessage(message, 0, 40, icmp), DropReason.None);
    assert.deepEqual([icmp.type, icmp.code, icmp.identifier, icmp.sequence, icmp.dataOffset, icmp.dataLength], [8, 0, 1, 1, 8, 32]);
  });

  it('the reply differs only in type, so its checksum is 0x0800 higher (0x555a)', () => {
    const message = new Uint8Array(40);
    message.set(WINDOWS_PING_DATA, 8);
    writeIcmpEcho(message, 0, 40, ICMP_ECHOREPLY, 1, 1, 32);
    assert.equal(toHex(message.subarray(0, 8)), '0000555a00010001');
  });

  it('drops truncated messages and bad checksums; refuses other types on build', () => {
    const icmp = new IcmpMessage();
    assert.equal(parseIcmpMessage(new Uint8Array(7), 0, 7, icmp), DropReason.IcmpTruncated);
    const message = new Uint8Array(8);
    writeIcmpEcho(message, 0, 8, ICMP_ECHO, 7, 9, 0);
    xorByte(message, 7, 1);
    assert.equal(parseIcmpMessage(message, 0, 8, icmp), DropReason.IcmpBadChecksum);
    assert.equal(parseIcmpMessage(message, 0, 8, icmp, false), DropReason.None);
    assert.throws(() => writeIcmpEcho(message, 0, 8, 3, 0, 0, 0), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });

  it('buildIcmpEchoFrame wraps data placed at icmpEchoFrameDataOffset in Ethernet + IPv4 + ICMP', () => {
    const tci = makeVlanTci(100);
    const out = new Uint8Array(100);
    out.set(WINDOWS_PING_DATA, icmpEchoFrameDataOffset(tci));
    const length = buildIcmpEchoFrame(out, 0, 100, { dstMac: PEER_MAC, srcMac: OUR_MAC, vlanTci: tci, srcIp: OUR_IP, dstIp: PEER_IP, ttl: 64, identification: 5, type: ICMP_ECHO, identifier: 1, sequence: 1 }, 32);
    assert.equal(length, 18 + 20 + 8 + 32);
    const eth = new EthernetHeader();
    const ip = new Ipv4Header();
    const icmp = new IcmpMessage();
    assert.equal(parseEthernetHeader(out, 0, length, eth), DropReason.None);
    assert.equal(parseIpv4Header(out, eth.payloadOffset, eth.payloadLength, ip), DropReason.None);
    assert.equal(ip.protocol, IPPROTO_ICMP);
    assert.equal(parseIcmpMessage(out, ip.payloadOffset, ip.payloadLength, icmp), DropReason.None);
    assert.equal(icmp.checksum, 0x4d5a);
  });
});

// 192.168.0.1:40000 → 192.168.0.2:7777, "vmig-probe"; checksum computed by an independent implementation (Python, RFC 1071 fold).
const UDP_GOLDEN = hex(`
  9c 40   # source port 40000
  1e 61   # destination port 7777
  00 12   # length 18
  e1 ba   # checksum over pseudo-header + datagram
  76 6d 69 67 2d 70 72 6f 62 65   # "vmig-probe"`);

describe('UDP', () => {
  it('writes the pseudo-header checksum of a known datagram (0xe1ba)', () => {
    const out = new Uint8Array(18);
    out.set(UDP_GOLDEN.subarray(8), 8);
    writeUdpHeader(out, 0, 18, 40000, 7777, 10, SRC, DST, 'full');
    assert.equal(toHex(out), toHex(UDP_GOLDEN));
  });

  it('parses it, verifying against the pseudo-header: other addresses fail', () => {
    const udp = new UdpHeader();
    assert.equal(parseUdpDatagram(UDP_GOLDEN, 0, 18, SRC, DST, udp), DropReason.None);
    assert.deepEqual([udp.srcPort, udp.dstPort, udp.length, udp.checksum, udp.payloadOffset, udp.payloadLength], [40000, 7777, 18, 0xe1ba, 8, 10]);
    assert.equal(parseUdpDatagram(UDP_GOLDEN, 0, 18, SRC, DST + 1, udp), DropReason.UdpBadChecksum);
    assert.equal(parseUdpDatagram(UDP_GOLDEN, 0, 18, SRC, DST + 1, udp, false), DropReason.None);
  });

  it('accepts checksum 0 as "none" (IPv4) and writes it in mode none', () => {
    const bytes = UDP_GOLDEN.slice();
    bytes[6] = 0;
    bytes[7] = 0;
    assert.equal(parseUdpDatagram(bytes, 0, 18, 1, 2, new UdpHeader()), DropReason.None);
    const out = UDP_GOLDEN.slice();
    writeUdpHeader(out, 0, 18, 40000, 7777, 10, SRC, DST, 'none');
    assert.deepEqual([out[6], out[7]], [0, 0]);
  });

  it('sends a computed checksum of 0 as 0xffff (RFC 768), which verifies', () => {
    // Choose the last two payload bytes so the datagram's sum folds to 0xffff, i.e. the checksum computes to 0.
    const bytes = new Uint8Array(12);
    writeUdpHeader(bytes, 0, 12, 1000, 2000, 4, SRC, DST, 'full');
    const sum = (bytes[6]! << 8) | bytes[7]!; // with a zero payload the checksum is ~S; a payload word ~S makes the sum S + ~S = 0xffff
    bytes[10] = sum >>> 8;
    bytes[11] = sum & 0xff;
    writeUdpHeader(bytes, 0, 12, 1000, 2000, 4, SRC, DST, 'full');
    assert.deepEqual([bytes[6], bytes[7]], [0xff, 0xff]);
    assert.equal(parseUdpDatagram(bytes, 0, 12, SRC, DST, new UdpHeader()), DropReason.None);
  });

  it('checks the length field against the IP payload; trailing bytes past it are ignored', () => {
    const udp = new UdpHeader();
    assert.equal(parseUdpDatagram(UDP_GOLDEN, 0, 7, SRC, DST, udp), DropReason.UdpTruncated);
    assert.equal(parseUdpDatagram(UDP_GOLDEN, 0, 17, SRC, DST, udp), DropReason.UdpBadLength);
    const short = UDP_GOLDEN.slice();
    short[5] = 7;
    assert.equal(parseUdpDatagram(short, 0, 18, SRC, DST, udp, false), DropReason.UdpBadLength);
    const longer = new Uint8Array(30);
    longer.set(UDP_GOLDEN);
    assert.equal(parseUdpDatagram(longer, 0, 30, SRC, DST, udp), DropReason.None);
    assert.equal(udp.payloadLength, 10);
  });

  it("'partial' leaves the folded pseudo-header sum; completing it (NEEDS_CSUM) gives the 'full' bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.boolean(), (payload, srcIp, dstIp, tagged) => {
        const tci = tagged ? makeVlanTci(42) : NO_VLAN_TAG;
        const frames = (['full', 'partial'] as UdpChecksumMode[]).map((mode) => {
          const out = new Uint8Array(200);
          out.set(payload, udpFramePayloadOffset(tci));
          const length = buildUdpFrame(out, 0, 200, { dstMac: PEER_MAC, srcMac: OUR_MAC, vlanTci: tci, srcIp, dstIp, srcPort: 5, dstPort: 7777, ttl: 64, identification: 1, checksumMode: mode }, payload.length);
          return out.subarray(0, length);
        });
        const [full, partial] = frames as [Uint8Array, Uint8Array];
        assert.equal(completePartialChecksum(partial, 0, partial.length, udpHeaderOffsetInFrame(tci), 6), DropReason.None);
        assert.equal(toHex(partial), toHex(full));
      }),
    );
  });

  it('buildUdpFrame → parse gives back every field and the payload', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 4094 }),
        fc.boolean(),
        (payload, srcPort, dstPort, vid, tagged) => {
          const tci = tagged ? makeVlanTci(vid) : NO_VLAN_TAG;
          const out = new Uint8Array(300);
          out.set(payload, udpFramePayloadOffset(tci));
          const length = buildUdpFrame(out, 0, 300, { dstMac: PEER_MAC, srcMac: OUR_MAC, vlanTci: tci, srcIp: SRC, dstIp: DST, srcPort, dstPort, ttl: 9, identification: 77, checksumMode: 'full' }, payload.length);
          const eth = new EthernetHeader();
          const ip = new Ipv4Header();
          const udp = new UdpHeader();
          assert.equal(parseEthernetHeader(out, 0, length, eth), DropReason.None);
          assert.equal(eth.headerLength, tagged ? 18 : ETH_HLEN);
          assert.equal(parseIpv4Header(out, eth.payloadOffset, eth.payloadLength, ip), DropReason.None);
          assert.deepEqual([ip.protocol, ip.ttl, ip.identification, ip.srcIp, ip.dstIp], [IPPROTO_UDP, 9, 77, SRC, DST]);
          assert.equal(parseUdpDatagram(out, ip.payloadOffset, ip.payloadLength, ip.srcIp, ip.dstIp, udp), DropReason.None);
          assert.deepEqual([udp.srcPort, udp.dstPort], [srcPort, dstPort]);
          assert.deepEqual(out.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength), payload);
        },
      ),
    );
  });

  it('refuses out-of-range ports and a buffer that cannot hold the frame', () => {
    const out = new Uint8Array(60);
    const fields = { dstMac: PEER_MAC, srcMac: OUR_MAC, vlanTci: NO_VLAN_TAG, srcIp: SRC, dstIp: DST, srcPort: 1, dstPort: 2, ttl: 64, identification: 0, checksumMode: 'full' as const };
    assert.throws(() => buildUdpFrame(out, 0, 60, fields, 60 - 42 + 1), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => buildUdpFrame(out, 0, 60, { ...fields, dstPort: 65536 }, 0), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => buildUdpFrame(out, 10, 60, fields, 0), (e) => hasCode(e, 'ERR_GUEST_SPAN_OUT_OF_RANGE'));
  });
});

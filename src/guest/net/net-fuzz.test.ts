/**
 * Hostile input (fast-check): random bytes, mutated valid frames and every
 * prefix of valid frames go through the classifier and each parser inside a
 * guarded view of shared "RAM" that throws on any access outside the span.
 * Properties: no exception, a consistent result (a verdict or a known drop
 * reason), spans that lie inside the frame, and replies that can be built.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { ArpPacket, buildArpReplyFrame, buildArpRequestFrame, buildGratuitousArpFrame, buildRarpAnnounceFrame, parseArpPacket, parseRarpAnnounceFrame } from './arp.js';
import { DROP_REASON_COUNT, DropReason } from './drop-reason.js';
import { EthernetHeader, NO_VLAN_TAG, makeVlanTci, parseEthernetHeader, stripVlanTag } from './ethernet.js';
import { ICMP_ECHO, IcmpMessage, buildIcmpEchoFrame, icmpEchoFrameDataOffset, parseIcmpMessage } from './icmp.js';
import { NET_CONFIG_F_ACCEPT_IPV4_MULTICAST } from './interface-config.js';
import { Ipv4Header, parseIpv4Header } from './ipv4.js';
import { OUR_IP, OUR_MAC, OUR_VLAN100_IP, OutOfSpanAccess, PEER_IP, PEER_MAC, guardedView, inSharedRam, sampleConfig } from './net-test-kit.js';
import { RxClassification, RxVerdict, classifyFrame, classifyVirtioRxBuffer } from './receive-classifier.js';
import { REPLY_DOES_NOT_FIT, buildArpReplyFor, buildIcmpEchoReplyFor, buildUdpReplyFor, udpReplyPayloadOffset } from './reply-frames.js';
import { UdpHeader, buildUdpFrame, parseUdpDatagram, udpFramePayloadOffset } from './udp.js';
import { VIRTIO_NET_HDR_V1_BYTES, VirtioNetHeader, completePartialChecksum, parseVirtioNetHeader, writeVirtioNetHeader } from './virtio-net-header.js';

const config = sampleConfig(NET_CONFIG_F_ACCEPT_IPV4_MULTICAST);

// ---------------------------------------------------------------- valid frames to start from

const payloadArb = fc.uint8Array({ maxLength: 64 });
const tciArb = fc.constantFrom(NO_VLAN_TAG, makeVlanTci(100), makeVlanTci(200, 5), makeVlanTci(0, 3), makeVlanTci(300));
const dstIpArb = fc.constantFrom(OUR_IP, OUR_VLAN100_IP, 0x0a00_00ff, 0xffff_ffff, 0xef01_0203, PEER_IP);

const validFrameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.record({ tci: tciArb, target: dstIpArb }).map(({ tci, target }) => {
    const out = new Uint8Array(64);
    return out.slice(0, buildArpRequestFrame(out, 0, 64, tci, PEER_MAC, tci === NO_VLAN_TAG ? PEER_IP : 0xc0a8_6401, target));
  }),
  tciArb.map((tci) => {
    const out = new Uint8Array(64);
    return out.slice(0, buildGratuitousArpFrame(out, 0, 64, tci, PEER_MAC, PEER_IP));
  }),
  tciArb.map((tci) => {
    const out = new Uint8Array(64);
    return out.slice(0, buildArpReplyFrame(out, 0, 64, tci, PEER_MAC, PEER_IP, OUR_MAC, tci === makeVlanTci(100) ? OUR_VLAN100_IP : OUR_IP));
  }),
  fc.constant(0).map(() => {
    const out = new Uint8Array(60);
    buildRarpAnnounceFrame(out, 0, 60, PEER_MAC);
    return out;
  }),
  fc.record({ tci: tciArb, dstIp: dstIpArb, payload: payloadArb, mode: fc.constantFrom('full' as const, 'none' as const), dstMac: fc.constantFrom(OUR_MAC, 0xffff_ffff_ffff, 0x0100_5e01_0203) }).map(({ tci, dstIp, payload, mode, dstMac }) => {
    const out = new Uint8Array(160);
    out.set(payload, udpFramePayloadOffset(tci));
    const fields = { dstMac, srcMac: PEER_MAC, vlanTci: tci, srcIp: PEER_IP, dstIp, srcPort: 4000, dstPort: 7777, ttl: 64, identification: 3, checksumMode: mode };
    return out.slice(0, buildUdpFrame(out, 0, 160, fields, payload.length));
  }),
  fc.record({ tci: tciArb, dstIp: dstIpArb, data: payloadArb }).map(({ tci, dstIp, data }) => {
    const out = new Uint8Array(160);
    out.set(data, icmpEchoFrameDataOffset(tci));
    const fields = { dstMac: OUR_MAC, srcMac: PEER_MAC, vlanTci: tci, srcIp: PEER_IP, dstIp, ttl: 64, identification: 3, type: ICMP_ECHO, identifier: 9, sequence: 1 };
    return out.slice(0, buildIcmpEchoFrame(out, 0, 160, fields, data.length));
  }),
);

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('poke' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), tail: fc.uint8Array({ maxLength: 20 }) }),
);

function mutate(frame: Uint8Array, mutations: { kind: 'poke' | 'truncate' | 'extend'; at?: number; value?: number; tail?: Uint8Array }[]): Uint8Array {
  let out = frame.slice();
  for (const m of mutations) {
    if (m.kind === 'poke' && out.length > 0) out[m.at! % out.length] = m.value!;
    else if (m.kind === 'truncate') out = out.slice(0, m.at! % (out.length + 1));
    else if (m.kind === 'extend') {
      const longer = new Uint8Array(out.length + m.tail!.length);
      longer.set(out);
      longer.set(m.tail!, out.length);
      out = longer;
    }
  }
  return out;
}

// ---------------------------------------------------------------- the checks every result must pass

function within(offset: number, length: number, start: number, end: number): boolean {
  return offset >= start && length >= 0 && offset + length <= end;
}

/** Classify `frame` (with a virtio header when `virtioHeader`) in guarded RAM; check the result; build any reply. */
function classifyHostile(frame: Uint8Array, virtioHeader?: VirtioNetHeader): RxVerdict {
  let bytes = frame;
  if (virtioHeader) {
    bytes = new Uint8Array(VIRTIO_NET_HDR_V1_BYTES + frame.length);
    writeVirtioNetHeader(bytes, 0, VIRTIO_NET_HDR_V1_BYTES, virtioHeader);
    bytes.set(frame, VIRTIO_NET_HDR_V1_BYTES);
  }
  const { ram, offset } = inSharedRam(bytes);
  const end = offset + bytes.length;
  const rx = new RxClassification();
  const verdict = virtioHeader
    ? classifyVirtioRxBuffer(guardedView(ram, offset, end, true), offset, bytes.length, config, rx)
    : classifyFrame(guardedView(ram, offset, end), offset, bytes.length, config, rx);
  assert.equal(verdict, rx.verdict);
  assert.ok(Number.isInteger(rx.dropReason) && rx.dropReason >= 0 && rx.dropReason < DROP_REASON_COUNT, `drop reason ${rx.dropReason}`);
  assert.equal(verdict === RxVerdict.Drop, rx.dropReason !== DropReason.None);
  if (rx.patchedChecksumAt >= 0) assert.ok(within(rx.patchedChecksumAt, 2, offset + VIRTIO_NET_HDR_V1_BYTES, end));
  if (verdict === RxVerdict.Drop) return verdict;

  assert.ok(within(rx.frameOffset, rx.frameLength, offset, end));
  assert.ok(rx.interfaceIndex >= 0 && rx.interfaceIndex < config.interfaces.length);
  assert.equal(config.interfaces[rx.interfaceIndex]!.vlanId, rx.vlanId);
  const frameEnd = rx.frameOffset + rx.frameLength;
  const tx = new Uint8Array(new SharedArrayBuffer(512));
  if (verdict === RxVerdict.Udp) {
    assert.ok(within(rx.udp.payloadOffset, rx.udp.payloadLength, rx.frameOffset, frameEnd));
    assert.ok(rx.udp.dstPort !== 0);
    const length = buildUdpReplyFor(rx, config, tx, 0, 512, Math.min(rx.udp.payloadLength, 100));
    assert.ok(length >= udpReplyPayloadOffset(rx));
  } else if (verdict === RxVerdict.IcmpEchoRequest) {
    assert.ok(within(rx.icmp.dataOffset, rx.icmp.dataLength, rx.frameOffset, frameEnd));
    const length = buildIcmpEchoReplyFor(rx, ram, config, tx, 0, 512);
    assert.ok(length === REPLY_DOES_NOT_FIT || length >= 42);
  } else if (verdict === RxVerdict.ArpRequest) {
    assert.ok(buildArpReplyFor(rx, config, tx, 0, 512) >= 42);
  }
  return verdict;
}

// ---------------------------------------------------------------- properties

describe('hostile frames', () => {
  it('random bytes: no exception, no access outside the span, a consistent result', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (frame) => {
        classifyHostile(frame);
      }), { numRuns: 2000 });
  });

  it('random bytes behind a random virtio-net header (NEEDS_CSUM writes stay in the frame)', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const header = fc.record({ flags: fc.integer({ min: 0, max: 7 }), gsoType: fc.constantFrom(0, 0, 0, 1, 3, 0x80), hdrLen: u16, gsoSize: u16, csumStart: fc.integer({ min: 0, max: 120 }), csumOffset: fc.integer({ min: 0, max: 40 }), numBuffers: u16 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), header, (frame, h) => {
        classifyHostile(frame, Object.assign(new VirtioNetHeader(), h));
      }),
      { numRuns: 1000 },
    );
  });

  it('mutated valid frames (pokes, truncation, extension), bare and behind a header', () => {
    const seen = new Set<RxVerdict>();
    fc.assert(
      fc.property(validFrameArb, fc.array(mutationArb, { maxLength: 4 }), fc.boolean(), (frame, mutations, withHeader) => {
        seen.add(classifyHostile(mutate(frame, mutations), withHeader ? new VirtioNetHeader() : undefined));
      }),
      { numRuns: 3000 },
    );
    assert.equal(seen.size, Object.keys(RxVerdict).length, 'every verdict was reached, so the deep paths were exercised');
  });

  it('valid frames are accepted or dropped for a policy reason, and a partial checksum completes to the same verdict', () => {
    fc.assert(
      fc.property(validFrameArb, (frame) => {
        classifyHostile(frame);
        const rx = new RxClassification();
        classifyFrame(frame, 0, frame.length, config, rx);
        assert.ok(
          ![DropReason.FrameTooShort, DropReason.ArpTruncated, DropReason.Ipv4Truncated, DropReason.Ipv4BadChecksum, DropReason.UdpBadChecksum, DropReason.IcmpBadChecksum, DropReason.UdpBadLength].includes(rx.dropReason as never),
          `a frame we built was dropped as malformed (${rx.dropReason})`,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('every prefix of a valid frame: no exception; prefixes cut inside the datagram are dropped', () => {
    fc.assert(
      fc.property(validFrameArb, (frame) => {
        const rx = new RxClassification();
        classifyFrame(frame, 0, frame.length, config, rx);
        const complete = rx.verdict;
        for (let length = 0; length < frame.length; length++) {
          classifyHostile(frame.subarray(0, length));
          if (complete !== RxVerdict.Drop && rx.ethernet.etherType === 0x0800) {
            const cut = new RxClassification();
            classifyFrame(frame, 0, length, config, cut);
            assert.equal(cut.verdict, RxVerdict.Drop, `prefix ${length} of ${frame.length}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('hostile input to each parser', () => {
  it('each parser reads only its span, whatever the bytes, and returns a known reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const length = bytes.length === 0 ? 0 : b % (bytes.length - start + 1);
        const { ram, offset } = inSharedRam(bytes);
        const view = guardedView(ram, offset + start, offset + start + length);
        const at = offset + start;
        const reasons = [
          parseEthernetHeader(view, at, length, new EthernetHeader()),
          parseArpPacket(view, at, length, new ArpPacket()),
          parseIpv4Header(view, at, length, new Ipv4Header()),
          parseIcmpMessage(view, at, length, new IcmpMessage()),
          parseUdpDatagram(view, at, length, PEER_IP, OUR_IP, new UdpHeader()),
          parseVirtioNetHeader(view, at, length, new VirtioNetHeader()),
        ];
        for (const r of reasons) assert.ok(r >= 0 && r < DROP_REASON_COUNT);
        assert.ok(parseRarpAnnounceFrame(view, at, length) >= -1);
        const writable = guardedView(ram, at, at + length, true);
        completePartialChecksum(writable, at, length, a % 130, b % 130);
        const newStart = stripVlanTag(writable, at, length);
        assert.ok(newStart === -1 || newStart === at + 4);
      }),
      { numRuns: 2000 },
    );
  });

  it('the guarded view itself catches an out-of-span read (the check is not vacuous)', () => {
    const { ram, offset } = inSharedRam(new Uint8Array(20));
    const view = guardedView(ram, offset, offset + 20);
    assert.throws(() => view[offset + 20], OutOfSpanAccess);
    assert.throws(() => view[offset - 1], OutOfSpanAccess);
    assert.throws(() => {
      view[offset] = 1;
    }, OutOfSpanAccess);
    const offByOne = (): number => {
      let sum = 0;
      for (let i = offset; i <= offset + 20; i++) sum += view[i]!;
      return sum;
    };
    assert.throws(offByOne, OutOfSpanAccess);
  });
});

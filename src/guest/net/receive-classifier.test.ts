/** The receive classifier and the replies built from its results: one scenario per verdict and drop reason. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasCode } from '../../core/index.js';
import { ARPOP_REPLY, ARPOP_REQUEST, ArpPacket, parseArpPacket, writeArpPacket } from './arp.js';
import { internetChecksum } from './checksum.js';
import { DropReason, dropReasonName } from './drop-reason.js';
import { ETH_P_ARP, ETH_P_IPV6, ETH_P_RARP, EthernetHeader, NO_VLAN_TAG, makeVlanTci, parseEthernetHeader, writeEthernetHeader } from './ethernet.js';
import { ICMP_ECHO, ICMP_ECHOREPLY, IcmpMessage, buildIcmpEchoFrame, icmpEchoFrameDataOffset, parseIcmpMessage } from './icmp.js';
import { NET_CONFIG_F_ACCEPT_IPV4_MULTICAST } from './interface-config.js';
import type { InterfaceConfig } from './interface-config.js';
import { IPPROTO_TCP, Ipv4Header, parseIpv4Header, writeIpv4Header } from './ipv4.js';
import { parseIpv4Address } from './ipv4-address.js';
import { BROADCAST_MAC, ipv4MulticastMac } from './mac-address.js';
import { OUR_IP, OUR_MAC, OUR_VLAN100_IP, PEER_IP, PEER_MAC, PEER_VLAN100_IP, guardedView, hex, inSharedRam, sampleConfig, toHex, xorByte } from './net-test-kit.js';
import { RxClassification, RxVerdict, classifyFrame, classifyVirtioRxBuffer } from './receive-classifier.js';
import { REPLY_DOES_NOT_FIT, buildArpReplyFor, buildIcmpEchoReplyFor, buildUdpReplyFor, udpReplyPayloadOffset } from './reply-frames.js';
import { UdpHeader, buildUdpFrame, parseUdpDatagram, udpFramePayloadOffset, udpHeaderOffsetInFrame } from './udp.js';
import type { UdpChecksumMode } from './udp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_V1_BYTES, VirtioNetHeader, writeVirtioNetHeader } from './virtio-net-header.js';

// ---------------------------------------------------------------- frames the tests receive

function arpFrame(op: number, vlanTci: number, ethDst: number, senderMac: number, senderIp: number, targetMac: number, targetIp: number, ethSrc = senderMac): Uint8Array {
  const out = new Uint8Array(64);
  const header = writeEthernetHeader(out, 0, 64, ethDst, ethSrc, ETH_P_ARP, vlanTci);
  return out.slice(0, header + writeArpPacket(out, header, 64 - header, op, senderMac, senderIp, targetMac, targetIp));
}

interface UdpSpec {
  vlanTci?: number;
  dstMac?: number;
  srcMac?: number;
  srcIp?: number;
  dstIp?: number;
  dstPort?: number;
  payload?: string;
  checksumMode?: UdpChecksumMode;
}

function udpFrame(spec: UdpSpec = {}): Uint8Array {
  const vlanTci = spec.vlanTci ?? NO_VLAN_TAG;
  const payload = new TextEncoder().encode(spec.payload ?? 'probe 42');
  const out = new Uint8Array(200);
  out.set(payload, udpFramePayloadOffset(vlanTci));
  const length = buildUdpFrame(
    out,
    0,
    200,
    {
      dstMac: spec.dstMac ?? OUR_MAC,
      srcMac: spec.srcMac ?? PEER_MAC,
      vlanTci,
      srcIp: spec.srcIp ?? PEER_IP,
      dstIp: spec.dstIp ?? OUR_IP,
      srcPort: 40000,
      dstPort: spec.dstPort ?? 7777,
      ttl: 64,
      identification: 1,
      checksumMode: spec.checksumMode ?? 'full',
    },
    payload.length,
  );
  return out.slice(0, length);
}

function pingFrame(dstIp = OUR_IP, dstMac = OUR_MAC, type = ICMP_ECHO, vlanTci = NO_VLAN_TAG): Uint8Array {
  const data = new TextEncoder().encode('abcdefghijklmnopqrstuvwabcdefghi');
  const out = new Uint8Array(200);
  out.set(data, icmpEchoFrameDataOffset(vlanTci));
  const fields = { dstMac, srcMac: PEER_MAC, vlanTci, srcIp: PEER_IP, dstIp, ttl: 128, identification: 9, type, identifier: 1, sequence: 7 };
  return out.slice(0, buildIcmpEchoFrame(out, 0, 200, fields, data.length));
}

/** Recompute the IPv4 header checksum after a test edited the header. */
function fixIpv4Checksum(frame: Uint8Array, ipOffset: number): void {
  frame[ipOffset + 10] = 0;
  frame[ipOffset + 11] = 0;
  const sum = internetChecksum(frame, ipOffset, 20);
  frame[ipOffset + 10] = sum >>> 8;
  frame[ipOffset + 11] = sum & 0xff;
}

function withVirtioHeader(frame: Uint8Array, header: Partial<VirtioNetHeader> = {}): Uint8Array {
  const out = new Uint8Array(VIRTIO_NET_HDR_V1_BYTES + frame.length);
  writeVirtioNetHeader(out, 0, VIRTIO_NET_HDR_V1_BYTES, { ...new VirtioNetHeader(), numBuffers: 1, ...header });
  out.set(frame, VIRTIO_NET_HDR_V1_BYTES);
  return out;
}

/** Classify `frame` inside shared "RAM", through a view that throws on any access outside it. */
function classify(frame: Uint8Array, config: InterfaceConfig = sampleConfig(), out = new RxClassification()): RxClassification {
  const { ram, offset } = inSharedRam(frame);
  classifyFrame(guardedView(ram, offset, offset + frame.length), offset, frame.length, config, out);
  return out;
}

function dropped(rx: RxClassification, reason: DropReason): void {
  assert.equal(rx.verdict, RxVerdict.Drop, `expected a drop (${dropReasonName(reason)}), got verdict ${rx.verdict}`);
  assert.equal(dropReasonName(rx.dropReason), dropReasonName(reason));
}

// ---------------------------------------------------------------- ARP

describe('classifier: ARP', () => {
  it('an ARP request for our untagged address → ArpRequest; the reply is the RFC 826 answer', () => {
    const request = arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, PEER_IP, 0, OUR_IP);
    const rx = classify(request);
    assert.equal(rx.verdict, RxVerdict.ArpRequest);
    assert.deepEqual([rx.interfaceIndex, rx.vlanId, rx.arp.senderMac, rx.arp.senderIp], [0, 0, PEER_MAC, PEER_IP]);
    const tx = new Uint8Array(64);
    const length = buildArpReplyFor(rx, sampleConfig(), tx, 0, 64);
    assert.equal(
      toHex(tx.subarray(0, length)),
      toHex(hex(`
        02 00 00 00 00 01  52 54 00 12 34 56  08 06   # to the requester, from us
        00 01 08 00 06 04  00 02                      # reply
        52 54 00 12 34 56  0a 00 00 02                # 10.0.0.2 is at our MAC
        02 00 00 00 00 01  0a 00 00 01                # to 10.0.0.1 at the requester's MAC`)),
    );
  });

  it('on VLAN 100 the request is for the VLAN 100 address, and the reply is tagged 100', () => {
    const request = arpFrame(ARPOP_REQUEST, makeVlanTci(100, 3), BROADCAST_MAC, PEER_MAC, PEER_VLAN100_IP, 0, OUR_VLAN100_IP);
    const rx = classify(request);
    assert.equal(rx.verdict, RxVerdict.ArpRequest);
    assert.deepEqual([rx.interfaceIndex, rx.vlanId], [1, 100]);
    const tx = new Uint8Array(64);
    const length = buildArpReplyFor(rx, sampleConfig(), tx, 0, 64);
    assert.equal(length, 46);
    const eth = new EthernetHeader();
    assert.equal(parseEthernetHeader(tx, 0, length, eth), DropReason.None);
    assert.deepEqual([eth.vlanId, eth.vlanPriority, eth.etherType, eth.dstMac], [100, 0, ETH_P_ARP, PEER_MAC]);
    const arp = new ArpPacket();
    assert.equal(parseArpPacket(tx, eth.payloadOffset, eth.payloadLength, arp), DropReason.None);
    assert.deepEqual([arp.operation, arp.senderIp, arp.targetIp], [ARPOP_REPLY, OUR_VLAN100_IP, PEER_VLAN100_IP]);
  });

  it('addresses belong to their VLAN: our untagged address asked for on VLAN 100 is not ours there', () => {
    const rx = classify(arpFrame(ARPOP_REQUEST, makeVlanTci(100), BROADCAST_MAC, PEER_MAC, PEER_VLAN100_IP, 0, OUR_IP));
    assert.equal(rx.verdict, RxVerdict.ArpRefresh);
    const vlan200 = classify(arpFrame(ARPOP_REQUEST, makeVlanTci(200), BROADCAST_MAC, PEER_MAC, PEER_IP, 0, OUR_IP));
    assert.deepEqual([vlan200.verdict, vlan200.interfaceIndex], [RxVerdict.ArpRequest, 2]);
  });

  it('a priority-tagged frame (VID 0) belongs to the untagged interface, and the reply is untagged', () => {
    const rx = classify(arpFrame(ARPOP_REQUEST, makeVlanTci(0, 6), BROADCAST_MAC, PEER_MAC, PEER_IP, 0, OUR_IP));
    assert.deepEqual([rx.verdict, rx.vlanId, rx.ethernet.isVlanTagged], [RxVerdict.ArpRequest, 0, true]);
    assert.equal(buildArpReplyFor(rx, sampleConfig(), new Uint8Array(64), 0, 64), 42);
  });

  it('an RFC 5227 probe (sender 0.0.0.0) for our address is answered with target IP 0', () => {
    const rx = classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, 0, 0, OUR_IP));
    assert.equal(rx.verdict, RxVerdict.ArpRequest);
    const tx = new Uint8Array(64);
    buildArpReplyFor(rx, sampleConfig(), tx, 0, 64);
    assert.equal(toHex(tx.subarray(38, 42)), '00000000');
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, 0, 0, PEER_IP)), DropReason.ArpNotForUs);
  });

  it('a reply to us → ArpReply (learn); a peer\'s gratuitous ARP → ArpRefresh', () => {
    const reply = classify(arpFrame(ARPOP_REPLY, NO_VLAN_TAG, OUR_MAC, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP));
    assert.deepEqual([reply.verdict, reply.arp.senderMac, reply.arp.senderIp], [RxVerdict.ArpReply, PEER_MAC, PEER_IP]);
    const garp = classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, PEER_IP, 0, PEER_IP));
    assert.deepEqual([garp.verdict, garp.interfaceIndex], [RxVerdict.ArpRefresh, 0]);
  });

  it('drops conflicts, our own looped-back announce, bad addresses and RARP', () => {
    const other = 0x0200_0000_00ee;
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, other, OUR_IP, 0, OUR_IP)), DropReason.ArpAddressConflict);
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, OUR_MAC, OUR_IP, 0, OUR_IP)), DropReason.FromOurMac);
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, BROADCAST_MAC, PEER_IP, 0, OUR_IP, PEER_MAC)), DropReason.ArpBadAddress);
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, 0xe000_0001, 0, OUR_IP)), DropReason.ArpBadAddress);
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, PEER_IP, 0, 0xffff_ffff)), DropReason.ArpBadAddress);
    dropped(classify(arpFrame(9, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, PEER_IP, 0, OUR_IP)), DropReason.ArpUnsupportedOperation);
    const rarp = arpFrame(3, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, 0, PEER_MAC, 0);
    rarp[12] = ETH_P_RARP >>> 8;
    rarp[13] = ETH_P_RARP & 0xff;
    dropped(classify(rarp), DropReason.RarpIgnored);
    dropped(classify(arpFrame(ARPOP_REQUEST, NO_VLAN_TAG, BROADCAST_MAC, PEER_MAC, PEER_IP, 0, OUR_IP).subarray(0, 41)), DropReason.ArpTruncated);
  });
});

// ---------------------------------------------------------------- L2

describe('classifier: Ethernet and VLAN', () => {
  it('drops frames for other MACs, from multicast sources, on unknown VLANs, and other ethertypes', () => {
    dropped(classify(udpFrame({ dstMac: 0x0200_0000_0099 })), DropReason.NotOurMac);
    dropped(classify(udpFrame({ srcMac: 0x0100_5e00_0001 })), DropReason.SourceMacMulticast);
    dropped(classify(udpFrame({ vlanTci: makeVlanTci(300) })), DropReason.VlanUnknown);
    const onlyVlan = { ...sampleConfig(), interfaces: [sampleConfig().interfaces[1]!] };
    dropped(classify(udpFrame(), onlyVlan), DropReason.VlanUnknown);
    const ipv6 = udpFrame();
    ipv6[12] = ETH_P_IPV6 >>> 8;
    ipv6[13] = ETH_P_IPV6 & 0xff;
    dropped(classify(ipv6), DropReason.UnsupportedEtherType);
    dropped(classify(new Uint8Array(10)), DropReason.FrameTooShort);
  });
});

// ---------------------------------------------------------------- IPv4, ICMP

describe('classifier: IPv4 and ICMP echo', () => {
  it('an echo request to us → IcmpEchoRequest; the reply echoes id, sequence and data with valid checksums', () => {
    const request = pingFrame();
    const { ram, offset } = inSharedRam(request);
    const rx = new RxClassification();
    assert.equal(classifyFrame(ram, offset, request.length, sampleConfig(), rx), RxVerdict.IcmpEchoRequest);
    const tx = new Uint8Array(new SharedArrayBuffer(256));
    const length = buildIcmpEchoReplyFor(rx, ram, sampleConfig(), tx, 8, 248, 0x1234);
    assert.equal(length, request.length);
    const eth = new EthernetHeader();
    const ip = new Ipv4Header();
    const icmp = new IcmpMessage();
    assert.equal(parseEthernetHeader(tx, 8, length, eth), DropReason.None);
    assert.deepEqual([eth.dstMac, eth.srcMac], [PEER_MAC, OUR_MAC]);
    assert.equal(parseIpv4Header(tx, eth.payloadOffset, eth.payloadLength, ip), DropReason.None);
    assert.deepEqual([ip.srcIp, ip.dstIp, ip.ttl, ip.identification], [OUR_IP, PEER_IP, 64, 0x1234]);
    assert.equal(parseIcmpMessage(tx, ip.payloadOffset, ip.payloadLength, icmp), DropReason.None);
    assert.deepEqual([icmp.type, icmp.identifier, icmp.sequence], [ICMP_ECHOREPLY, 1, 7]);
    assert.equal(toHex(tx.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength)), toHex(request.subarray(request.length - 32)));
  });

  it('an echo reply may be built in place over the request (same RAM)', () => {
    const request = pingFrame(OUR_VLAN100_IP, OUR_MAC, ICMP_ECHO, makeVlanTci(100));
    const ram = new Uint8Array(new SharedArrayBuffer(128));
    ram.set(request);
    const rx = new RxClassification();
    classifyFrame(ram, 0, request.length, sampleConfig(), rx);
    assert.equal(rx.verdict, RxVerdict.IcmpEchoRequest);
    const length = buildIcmpEchoReplyFor(rx, ram, sampleConfig(), ram, 0, 128);
    const again = new RxClassification();
    classifyFrame(ram, 0, length, { mac: PEER_MAC, flags: 0, interfaces: [{ vlanId: 100, ip: PEER_IP, prefixLength: 24 }] }, again); // seen from the peer
    assert.deepEqual([again.dropReason, again.vlanId, again.icmp.type], [DropReason.IcmpUnsupportedType, 100, ICMP_ECHOREPLY]);
  });

  it('a ping larger than the transmit buffer is not answered (REPLY_DOES_NOT_FIT), not thrown', () => {
    const rx = classify(pingFrame());
    assert.equal(buildIcmpEchoReplyFor(rx, new Uint8Array(0), sampleConfig(), new Uint8Array(60), 0, 60), REPLY_DOES_NOT_FIT);
  });

  it('ignores echo requests to broadcast addresses, and other ICMP types', () => {
    dropped(classify(pingFrame(parseIpv4Address('10.0.0.255'), BROADCAST_MAC)), DropReason.IcmpEchoToBroadcast);
    dropped(classify(pingFrame(0xffff_ffff, BROADCAST_MAC)), DropReason.IcmpEchoToBroadcast);
    dropped(classify(pingFrame(OUR_IP, OUR_MAC, ICMP_ECHOREPLY)), DropReason.IcmpUnsupportedType);
    const corrupt = pingFrame();
    xorByte(corrupt, corrupt.length - 1, 0x40);
    dropped(classify(corrupt), DropReason.IcmpBadChecksum);
  });

  it('drops datagrams not for us, from martian sources, unicast in a broadcast frame, and other protocols', () => {
    dropped(classify(udpFrame({ dstIp: parseIpv4Address('10.0.0.3') })), DropReason.Ipv4NotForUs);
    dropped(classify(udpFrame({ vlanTci: makeVlanTci(100), dstIp: OUR_IP })), DropReason.Ipv4NotForUs);
    dropped(classify(udpFrame({ srcIp: 0 })), DropReason.Ipv4BadSource);
    dropped(classify(udpFrame({ srcIp: parseIpv4Address('224.0.0.1') })), DropReason.Ipv4BadSource);
    dropped(classify(udpFrame({ dstMac: BROADCAST_MAC })), DropReason.Ipv4UnicastInL2Multicast);
    const tcp = new Uint8Array(54);
    writeEthernetHeader(tcp, 0, 54, OUR_MAC, PEER_MAC, 0x0800);
    writeIpv4Header(tcp, 14, 40, IPPROTO_TCP, { srcIp: PEER_IP, dstIp: OUR_IP, ttl: 64, identification: 0 }, 20);
    dropped(classify(tcp), DropReason.Ipv4UnsupportedProtocol);
    const fragment = udpFrame();
    fragment[14 + 6] = 0x20; // MF
    fixIpv4Checksum(fragment, 14);
    dropped(classify(fragment), DropReason.Ipv4Fragment);
  });
});

// ---------------------------------------------------------------- UDP

describe('classifier: UDP', () => {
  it('UDP to us → Udp with the port and the payload span; the reply swaps ports and addresses', () => {
    const frame = udpFrame({ payload: 'hello vmig' });
    const { ram, offset } = inSharedRam(frame);
    const rx = new RxClassification();
    assert.equal(classifyFrame(ram, offset, frame.length, sampleConfig(), rx), RxVerdict.Udp);
    assert.deepEqual([rx.udp.dstPort, rx.udp.srcPort, rx.destinationKind], [7777, 40000, 'unicast']);
    assert.equal(new TextDecoder().decode(ram.subarray(rx.udp.payloadOffset, rx.udp.payloadOffset + rx.udp.payloadLength)), 'hello vmig');

    const tx = new Uint8Array(128);
    const reply = new TextEncoder().encode('pong');
    tx.set(reply, udpReplyPayloadOffset(rx));
    const length = buildUdpReplyFor(rx, sampleConfig(), tx, 0, 128, reply.length);
    const back = new RxClassification();
    classifyFrame(tx, 0, length, { mac: PEER_MAC, flags: 0, interfaces: [{ vlanId: 0, ip: PEER_IP, prefixLength: 24 }] }, back);
    assert.equal(back.verdict, RxVerdict.Udp, 'the peer accepts it');
    assert.deepEqual([back.ethernet.srcMac, back.ipv4.srcIp, back.udp.srcPort, back.udp.dstPort, back.udp.payloadLength], [OUR_MAC, OUR_IP, 7777, 40000, 4]);
  });

  it('UDP to a directed or limited broadcast → Udp (broadcast), answered from the interface address', () => {
    for (const dstIp of [parseIpv4Address('10.0.0.255'), 0xffff_ffff]) {
      const rx = classify(udpFrame({ dstMac: BROADCAST_MAC, dstIp }));
      assert.deepEqual([rx.verdict, rx.destinationKind, rx.interfaceIndex], [RxVerdict.Udp, 'broadcast', 0]);
      const tx = new Uint8Array(128);
      const length = buildUdpReplyFor(rx, sampleConfig(), tx, 0, 128, 0);
      const ip = new Ipv4Header();
      parseIpv4Header(tx, 14, length - 14, ip);
      assert.equal(ip.srcIp, OUR_IP);
    }
  });

  it('multicast UDP is refused unless the configuration accepts it', () => {
    const group = parseIpv4Address('239.1.2.3');
    const frame = udpFrame({ dstMac: ipv4MulticastMac(group), dstIp: group });
    dropped(classify(frame), DropReason.Ipv4MulticastRefused);
    const rx = classify(frame, sampleConfig(NET_CONFIG_F_ACCEPT_IPV4_MULTICAST));
    assert.deepEqual([rx.verdict, rx.destinationKind], [RxVerdict.Udp, 'multicast']);
  });

  it('drops bad checksums, bad lengths and port 0; checksum 0 means none', () => {
    const corrupt = udpFrame();
    xorByte(corrupt, corrupt.length - 1, 1);
    dropped(classify(corrupt), DropReason.UdpBadChecksum);
    assert.equal(classify(udpFrame({ checksumMode: 'none' })).verdict, RxVerdict.Udp);
    dropped(classify(udpFrame({ dstPort: 0 })), DropReason.UdpBadPort);
    const badLength = udpFrame({ checksumMode: 'none' });
    badLength[34 + 5] = badLength[34 + 5]! + 1; // UDP length one past the IP payload
    dropped(classify(badLength), DropReason.UdpBadLength);
  });

  it('reply builders refuse a classification of another kind (a caller bug)', () => {
    const rx = classify(udpFrame());
    assert.throws(() => buildArpReplyFor(rx, sampleConfig(), new Uint8Array(64), 0, 64), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => buildIcmpEchoReplyFor(rx, new Uint8Array(0), sampleConfig(), new Uint8Array(64), 0, 64), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });
});

// ---------------------------------------------------------------- virtio-net buffers

describe('classifier: virtio-net receive buffers', () => {
  it('reads the frame after the 12-byte header', () => {
    const buffer = withVirtioHeader(udpFrame());
    const rx = new RxClassification();
    assert.equal(classifyVirtioRxBuffer(buffer, 0, buffer.length, sampleConfig(), rx), RxVerdict.Udp);
    assert.deepEqual([rx.frameOffset, rx.frameLength, rx.patchedChecksumAt, rx.virtioHeader.numBuffers], [12, buffer.length - 12, -1, 1]);
  });

  it('NEEDS_CSUM: completes the partial UDP checksum in place and reports where it wrote', () => {
    const partial = udpFrame({ checksumMode: 'partial' });
    dropped(classify(partial), DropReason.UdpBadChecksum);
    const buffer = withVirtioHeader(partial, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: udpHeaderOffsetInFrame(NO_VLAN_TAG), csumOffset: 6 });
    const { ram, offset } = inSharedRam(buffer);
    const rx = new RxClassification();
    assert.equal(classifyVirtioRxBuffer(guardedView(ram, offset, offset + buffer.length, true), offset, buffer.length, sampleConfig(), rx), RxVerdict.Udp);
    assert.equal(rx.patchedChecksumAt, offset + 12 + 34 + 6);
    const completed = ram.subarray(offset + 12, offset + buffer.length);
    assert.equal(toHex(completed), toHex(udpFrame({ checksumMode: 'full' })));
    assert.equal(parseUdpDatagram(completed, 34, completed.length - 34, PEER_IP, OUR_IP, new UdpHeader()), DropReason.None);
  });

  it('NEEDS_CSUM with offsets outside the frame is dropped without writing', () => {
    const buffer = withVirtioHeader(udpFrame(), { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 40, csumOffset: 100 });
    const before = buffer.slice();
    const rx = new RxClassification();
    classifyVirtioRxBuffer(buffer, 0, buffer.length, sampleConfig(), rx);
    dropped(rx, DropReason.VirtioBadPartialChecksum);
    assert.deepEqual(buffer, before);
    assert.equal(rx.patchedChecksumAt, -1);
  });

  it('DATA_VALID: the device vouches for the L4 checksum, so it is not recomputed', () => {
    const corrupt = udpFrame();
    xorByte(corrupt, corrupt.length - 1, 1);
    const rx = new RxClassification();
    const buffer = withVirtioHeader(corrupt, { flags: VIRTIO_NET_HDR_F_DATA_VALID });
    assert.equal(classifyVirtioRxBuffer(buffer, 0, buffer.length, sampleConfig(), rx), RxVerdict.Udp);
    const plain = withVirtioHeader(corrupt);
    classifyVirtioRxBuffer(plain, 0, plain.length, sampleConfig(), rx);
    dropped(rx, DropReason.UdpBadChecksum);
  });

  it('drops GSO frames (never negotiated) and buffers shorter than the header', () => {
    const gso = withVirtioHeader(udpFrame(), { gsoType: VIRTIO_NET_HDR_GSO_UDP_L4, gsoSize: 100 });
    const rx = new RxClassification();
    classifyVirtioRxBuffer(gso, 0, gso.length, sampleConfig(), rx);
    dropped(rx, DropReason.VirtioGsoUnsupported);
    classifyVirtioRxBuffer(new Uint8Array(11), 0, 11, sampleConfig(), rx);
    dropped(rx, DropReason.VirtioHeaderTruncated);
    const header = new Uint8Array(12);
    classifyVirtioRxBuffer(header, 0, 12, sampleConfig(), rx);
    dropped(rx, DropReason.FrameTooShort);
  });

  it('throws only for a span outside the view', () => {
    assert.throws(() => classifyVirtioRxBuffer(new Uint8Array(20), 10, 11, sampleConfig(), new RxClassification()), (e) => hasCode(e, 'ERR_GUEST_SPAN_OUT_OF_RANGE'));
  });
});

/**
 * The receive classifier: one frame in, one decision out — what the guest's
 * stack must do with it, or why it is dropped (a DropReason to count).
 *
 *   virtio buffer ─ classifyVirtioRxBuffer ─┐  (header, GSO check, NEEDS_CSUM completion)
 *                                           ▼
 *   Ethernet frame ─────────────────── classifyFrame
 *     L2: sanity of source MAC, destination = our MAC / broadcast / multicast,
 *         802.1Q tag → VLAN (VID 0 and untagged = VLAN 0), an interface on it
 *     ARP:  request for one of our IPs        → ArpRequest  (reply; learn sender)
 *           reply to one of our IPs           → ArpReply    (learn sender)
 *           other ARP on the VLAN             → ArpRefresh  (update sender if cached)
 *     IPv4: for us (unicast, limited/directed broadcast, multicast when enabled)
 *           ICMP echo request, unicast        → IcmpEchoRequest (reply)
 *           UDP                               → Udp (udp.dstPort, payload span)
 *     anything else                           → Drop + dropReason
 *
 * Allocation-free per frame: results go into a caller-owned RxClassification
 * whose sub-structures (ethernet, arp, ipv4, icmp, udp) are reused. It is
 * scratch for the frame being handled — nothing in it must survive migration.
 * Only the parts that belong to the verdict are meaningful; the rest may hold
 * an earlier frame's values. The classifier only reads the frame, except that
 * classifyVirtioRxBuffer writes a completed checksum (2 bytes, reported in
 * `patchedChecksumAt` so the guest can mark the page dirty).
 *
 * Policy choices, each Linux's default unless noted: ARP is answered for any
 * requester (arp_ignore=0) but only on the VLAN the address lives on; ARP
 * probes (sender IP 0, RFC 5227) are answered but not learned; a sender
 * claiming one of our IPs is an address conflict, dropped; echo requests to
 * broadcast/multicast are ignored (icmp_echo_ignore_broadcasts=1); IP unicast
 * in a link-layer broadcast is dropped (RFC 1122 §3.3.6); TTL never drops a
 * datagram for us.
 */

import { DropReason } from './drop-reason.js';
import { checkSpan } from './byte-access.js';
import { ARPOP_REPLY, ARPOP_REQUEST, ArpPacket, parseArpPacket } from './arp.js';
import { ETH_P_ARP, ETH_P_IP, ETH_P_RARP, EthernetHeader, parseEthernetHeader } from './ethernet.js';
import { ICMP_ECHO, IcmpMessage, parseIcmpMessage } from './icmp.js';
import { IPPROTO_ICMP, IPPROTO_UDP, Ipv4Header, parseIpv4Header } from './ipv4.js';
import { IPV4_LIMITED_BROADCAST, isIpv4Multicast, isMartianIpv4Source, ipv4DirectedBroadcast } from './ipv4-address.js';
import { NET_CONFIG_F_ACCEPT_IPV4_MULTICAST } from './interface-config.js';
import type { InterfaceConfig } from './interface-config.js';
import { isMulticastMac } from './mac-address.js';
import { UdpHeader, parseUdpDatagram } from './udp.js';
import {
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_V1_BYTES,
  VirtioNetHeader,
  completePartialChecksum,
  parseVirtioNetHeader,
} from './virtio-net-header.js';

/** What the stack does with a frame. 0 is Drop, so a zeroed result means "nothing to do". */
export const RxVerdict = {
  /** Dropped: see `dropReason`. */
  Drop: 0,
  /** ARP request for one of our addresses: answer (buildArpReplyFor); learn the sender unless its IP is 0.0.0.0 (a probe). */
  ArpRequest: 1,
  /** ARP reply to one of our addresses: learn the sender (arpCacheInsert). */
  ArpReply: 2,
  /** Other ARP on one of our VLANs (requests for others, gratuitous ARP): update the sender only if cached (arpCacheRefresh, RFC 826). */
  ArpRefresh: 3,
  /** ICMP echo request to one of our addresses: answer (buildIcmpEchoReplyFor). */
  IcmpEchoRequest: 4,
  /** UDP datagram for us: deliver to `udp.dstPort` the payload at `udp.payloadOffset`/`udp.payloadLength`. */
  Udp: 5,
} as const;

export type RxVerdict = (typeof RxVerdict)[keyof typeof RxVerdict];

/** How an IPv4 datagram was addressed to us. */
export type Ipv4DestinationKind = 'unicast' | 'broadcast' | 'multicast';

/** The classifier's result for one frame. Allocate one per receive path and reuse it. */
export class RxClassification {
  verdict: RxVerdict = RxVerdict.Drop;
  dropReason: DropReason = DropReason.None;
  /** Index in config.interfaces of the interface the frame is for (for broadcasts: the VLAN's first); -1 if none. */
  interfaceIndex = -1;
  /** The frame's VLAN: 0 for untagged and priority-tagged frames. Replies go out on it. */
  vlanId = 0;
  /** For IPv4 verdicts. */
  destinationKind: Ipv4DestinationKind = 'unicast';
  /** The Ethernet frame (after the virtio header), absolute in the classified array. */
  frameOffset = 0;
  frameLength = 0;
  /** Absolute index of the checksum field completed for NEEDS_CSUM, or -1 if nothing was written. */
  patchedChecksumAt = -1;
  readonly virtioHeader = new VirtioNetHeader();
  readonly ethernet = new EthernetHeader();
  readonly arp = new ArpPacket();
  readonly ipv4 = new Ipv4Header();
  readonly icmp = new IcmpMessage();
  readonly udp = new UdpHeader();
}

function drop(out: RxClassification, reason: DropReason): RxVerdict {
  out.verdict = RxVerdict.Drop;
  out.dropReason = reason;
  return RxVerdict.Drop;
}

function accept(out: RxClassification, verdict: RxVerdict): RxVerdict {
  out.verdict = verdict;
  out.dropReason = DropReason.None;
  return verdict;
}

/** The interface with address `ip` on `vlanId`, or -1. */
function interfaceWithAddress(config: InterfaceConfig, vlanId: number, ip: number): number {
  const list = config.interfaces;
  for (let i = 0; i < list.length; i++) if (list[i]!.vlanId === vlanId && list[i]!.ip === ip) return i;
  return -1;
}

/** The interface on `vlanId` whose subnet's directed broadcast is `ip`, or -1. */
function interfaceWithBroadcast(config: InterfaceConfig, vlanId: number, ip: number): number {
  const list = config.interfaces;
  for (let i = 0; i < list.length; i++) if (list[i]!.vlanId === vlanId && ipv4DirectedBroadcast(list[i]!.ip, list[i]!.prefixLength) === ip) return i;
  return -1;
}

function firstInterfaceOn(config: InterfaceConfig, vlanId: number): number {
  const list = config.interfaces;
  for (let i = 0; i < list.length; i++) if (list[i]!.vlanId === vlanId) return i;
  return -1;
}

/**
 * Classify the Ethernet frame at bytes[offset, offset+length).
 * @param l4ChecksumTrusted skip ICMP/UDP checksum checks (the device set DATA_VALID, or NEEDS_CSUM was completed)
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes` (never for frame contents)
 */
export function classifyFrame(bytes: Uint8Array, offset: number, length: number, config: InterfaceConfig, out: RxClassification, l4ChecksumTrusted = false): RxVerdict {
  out.patchedChecksumAt = -1;
  return classifyEthernet(bytes, offset, length, config, out, l4ChecksumTrusted);
}

/**
 * Classify a whole receive buffer: struct virtio_net_hdr_v1 then the frame
 * (contiguous: with MRG_RXBUF the driver gathers the buffers first). A
 * partial checksum (NEEDS_CSUM) is completed in place, then trusted.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function classifyVirtioRxBuffer(bytes: Uint8Array, offset: number, length: number, config: InterfaceConfig, out: RxClassification): RxVerdict {
  out.patchedChecksumAt = -1;
  out.frameOffset = offset;
  out.frameLength = 0;
  const header = out.virtioHeader;
  const headerResult = parseVirtioNetHeader(bytes, offset, length, header);
  if (headerResult !== DropReason.None) return drop(out, headerResult);
  out.frameOffset = offset + VIRTIO_NET_HDR_V1_BYTES;
  out.frameLength = length - VIRTIO_NET_HDR_V1_BYTES;
  // The driver never negotiates GUEST_TSO4/6, GUEST_UFO or GUEST_USO: a GSO frame here is a device bug.
  if ((header.gsoType & ~VIRTIO_NET_HDR_GSO_ECN) !== VIRTIO_NET_HDR_GSO_NONE) return drop(out, DropReason.VirtioGsoUnsupported);
  const frameOffset = out.frameOffset;
  const frameLength = out.frameLength;
  let trusted = false;
  if ((header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
    const result = completePartialChecksum(bytes, frameOffset, frameLength, header.csumStart, header.csumOffset);
    if (result !== DropReason.None) return drop(out, result);
    out.patchedChecksumAt = frameOffset + header.csumStart + header.csumOffset;
    trusted = true;
  } else if ((header.flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0) {
    trusted = true;
  }
  return classifyEthernet(bytes, frameOffset, frameLength, config, out, trusted);
}

function classifyEthernet(bytes: Uint8Array, offset: number, length: number, config: InterfaceConfig, out: RxClassification, l4ChecksumTrusted: boolean): RxVerdict {
  checkSpan(bytes, offset, length, 'Ethernet frame');
  out.frameOffset = offset;
  out.frameLength = length;
  out.interfaceIndex = -1;
  out.vlanId = 0;
  out.destinationKind = 'unicast';
  const eth = out.ethernet;
  const ethResult = parseEthernetHeader(bytes, offset, length, eth);
  if (ethResult !== DropReason.None) return drop(out, ethResult);
  if (isMulticastMac(eth.srcMac)) return drop(out, DropReason.SourceMacMulticast);
  if (eth.srcMac === config.mac) return drop(out, DropReason.FromOurMac);
  const isL2Multicast = isMulticastMac(eth.dstMac);
  if (!isL2Multicast && eth.dstMac !== config.mac) return drop(out, DropReason.NotOurMac);
  out.vlanId = eth.isVlanTagged ? eth.vlanId : 0;
  if (firstInterfaceOn(config, out.vlanId) < 0) return drop(out, DropReason.VlanUnknown);
  switch (eth.etherType) {
    case ETH_P_ARP:
      return classifyArp(bytes, config, out);
    case ETH_P_IP:
      return classifyIpv4(bytes, config, out, isL2Multicast, l4ChecksumTrusted);
    case ETH_P_RARP:
      return drop(out, DropReason.RarpIgnored);
    default:
      return drop(out, DropReason.UnsupportedEtherType);
  }
}

function classifyArp(bytes: Uint8Array, config: InterfaceConfig, out: RxClassification): RxVerdict {
  const arp = out.arp;
  const result = parseArpPacket(bytes, out.ethernet.payloadOffset, out.ethernet.payloadLength, arp);
  if (result !== DropReason.None) return drop(out, result);
  if (arp.operation !== ARPOP_REQUEST && arp.operation !== ARPOP_REPLY) return drop(out, DropReason.ArpUnsupportedOperation);
  if (isMulticastMac(arp.senderMac) || arp.senderIp === IPV4_LIMITED_BROADCAST || isIpv4Multicast(arp.senderIp) || arp.targetIp === IPV4_LIMITED_BROADCAST || isIpv4Multicast(arp.targetIp)) {
    return drop(out, DropReason.ArpBadAddress);
  }
  const vlanId = out.vlanId;
  if (arp.senderIp !== 0 && interfaceWithAddress(config, vlanId, arp.senderIp) >= 0) return drop(out, DropReason.ArpAddressConflict);
  const target = interfaceWithAddress(config, vlanId, arp.targetIp);
  if (target >= 0) {
    out.interfaceIndex = target;
    return accept(out, arp.operation === ARPOP_REQUEST ? RxVerdict.ArpRequest : RxVerdict.ArpReply);
  }
  if (arp.senderIp === 0) return drop(out, DropReason.ArpNotForUs);
  out.interfaceIndex = firstInterfaceOn(config, vlanId);
  return accept(out, RxVerdict.ArpRefresh);
}

function classifyIpv4(bytes: Uint8Array, config: InterfaceConfig, out: RxClassification, isL2Multicast: boolean, l4ChecksumTrusted: boolean): RxVerdict {
  const ip = out.ipv4;
  const result = parseIpv4Header(bytes, out.ethernet.payloadOffset, out.ethernet.payloadLength, ip);
  if (result !== DropReason.None) return drop(out, result);
  if (isMartianIpv4Source(ip.srcIp)) return drop(out, DropReason.Ipv4BadSource);
  const vlanId = out.vlanId;
  const dst = ip.dstIp;
  if (isIpv4Multicast(dst)) {
    if ((config.flags & NET_CONFIG_F_ACCEPT_IPV4_MULTICAST) === 0) return drop(out, DropReason.Ipv4MulticastRefused);
    out.destinationKind = 'multicast';
    out.interfaceIndex = firstInterfaceOn(config, vlanId);
  } else if (dst === IPV4_LIMITED_BROADCAST) {
    out.destinationKind = 'broadcast';
    out.interfaceIndex = firstInterfaceOn(config, vlanId);
  } else {
    out.interfaceIndex = interfaceWithAddress(config, vlanId, dst);
    if (out.interfaceIndex < 0) {
      out.interfaceIndex = interfaceWithBroadcast(config, vlanId, dst);
      if (out.interfaceIndex < 0) return drop(out, DropReason.Ipv4NotForUs);
      out.destinationKind = 'broadcast';
    } else if (isL2Multicast) {
      return drop(out, DropReason.Ipv4UnicastInL2Multicast);
    }
  }
  if (ip.protocol === IPPROTO_UDP) {
    const udp = out.udp;
    const udpResult = parseUdpDatagram(bytes, ip.payloadOffset, ip.payloadLength, ip.srcIp, dst, udp, !l4ChecksumTrusted);
    if (udpResult !== DropReason.None) return drop(out, udpResult);
    if (udp.dstPort === 0) return drop(out, DropReason.UdpBadPort);
    return accept(out, RxVerdict.Udp);
  }
  if (ip.protocol === IPPROTO_ICMP) {
    const icmp = out.icmp;
    const icmpResult = parseIcmpMessage(bytes, ip.payloadOffset, ip.payloadLength, icmp, !l4ChecksumTrusted);
    if (icmpResult !== DropReason.None) return drop(out, icmpResult);
    if (icmp.type !== ICMP_ECHO) return drop(out, DropReason.IcmpUnsupportedType);
    if (out.destinationKind !== 'unicast') return drop(out, DropReason.IcmpEchoToBroadcast);
    return accept(out, RxVerdict.IcmpEchoRequest);
  }
  return drop(out, DropReason.Ipv4UnsupportedProtocol);
}

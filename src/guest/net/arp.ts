/**
 * ARP (RFC 826) and RARP (RFC 903) for Ethernet/IPv4: parse, build, the
 * gratuitous ARP the guest sends on VIRTIO_NET_S_ANNOUNCE, and QEMU's RARP
 * self-announce frame.
 *
 * The 28-byte packet after the Ethernet header (ethertype 0x0806, or 0x8035
 * for RARP):
 *
 *    0       2       4   5   6       8
 *   +-------+-------+---+---+-------+
 *   | htype | ptype |hln|pln|  op   |   htype 1 (Ethernet), ptype 0x0800, hln 6, pln 4
 *   +-------+-------+---+---+-------+-----------------------+
 *   8  sender hardware address (6)  14 sender IP address (4)
 *   18 target hardware address (6)  24 target IP address (4)
 *   28
 *
 *   op: 1 request, 2 reply (ARP); 3 reverse request, 4 reverse reply (RARP)
 *
 * Gratuitous ARP (what Linux sends for NETDEV_NOTIFY_PEERS, which virtio_net
 * raises on VIRTIO_NET_S_ANNOUNCE): a broadcast request with sender IP =
 * target IP = ours and a zero target MAC, so peers and switches update their
 * tables (RFC 5227 §2.3 calls it an ARP Announcement).
 *
 * QEMU's self-announce (net/announce.c, announce_self_create), sent by the
 * destination host side after migration — 60 bytes, untagged:
 *
 *    0  ff ff ff ff ff ff     destination: broadcast
 *    6  <NIC MAC>             source
 *   12  80 35                 RARP
 *   14  00 01 08 00 06 04     Ethernet, IPv4, 6, 4
 *   20  00 03                 op 3: reverse request
 *   22  <NIC MAC> 00 00 00 00 sender MAC, sender IP 0
 *   32  <NIC MAC> 00 00 00 00 target MAC, target IP 0
 *   42  18 × 00               padding to ETH_ZLEN
 */

import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16be, readU32be, requireCapacity, writeU16be, writeU32be } from './byte-access.js';
import { ETH_HLEN, ETH_P_ARP, ETH_P_IP, ETH_P_RARP, ETH_ZLEN, EthernetHeader, NO_VLAN_TAG, ethernetHeaderLength, parseEthernetHeader, writeEthernetHeader } from './ethernet.js';
import { BROADCAST_MAC, ZERO_MAC, checkMac, readMac, writeMac } from './mac-address.js';
import { checkIpv4 } from './ipv4-address.js';

/** ARP packet length for Ethernet/IPv4. */
export const ARP_PACKET_BYTES = 28;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const ARPOP_RREQUEST = 3;
export const ARPOP_RREPLY = 4;
/** What `parseRarpAnnounceFrame` returns for a frame that is not QEMU's announce. */
export const NOT_AN_ANNOUNCE = -1;

/** A parsed ARP/RARP packet. Reused across frames. */
export class ArpPacket {
  operation = 0;
  senderMac = 0;
  senderIp = 0;
  targetMac = 0;
  targetIp = 0;
}

/**
 * Parse the ARP/RARP packet at bytes[offset, offset+length) (the Ethernet
 * payload). Checks the format (Ethernet/IPv4); the operation is left to the
 * caller, since which ones are valid depends on the ethertype.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseArpPacket(bytes: Uint8Array, offset: number, length: number, out: ArpPacket): DropReason {
  checkSpan(bytes, offset, length, 'ARP packet');
  if (length < ARP_PACKET_BYTES) return DropReason.ArpTruncated;
  if (readU16be(bytes, offset) !== ARPHRD_ETHER || readU16be(bytes, offset + 2) !== ETH_P_IP || bytes[offset + 4] !== 6 || bytes[offset + 5] !== 4) {
    return DropReason.ArpUnsupportedFormat;
  }
  out.operation = readU16be(bytes, offset + 6);
  out.senderMac = readMac(bytes, offset + 8);
  out.senderIp = readU32be(bytes, offset + 14);
  out.targetMac = readMac(bytes, offset + 18);
  out.targetIp = readU32be(bytes, offset + 24);
  return DropReason.None;
}

/**
 * Write a 28-byte Ethernet/IPv4 ARP packet. Returns 28.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeArpPacket(
  bytes: Uint8Array,
  offset: number,
  capacity: number,
  operation: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  checkSpan(bytes, offset, capacity, 'ARP packet destination');
  requireCapacity(capacity, ARP_PACKET_BYTES, 'an ARP packet');
  checkField(operation, 0, 0xffff, 'ARP operation');
  checkMac(senderMac, 'ARP sender MAC');
  checkMac(targetMac, 'ARP target MAC');
  checkIpv4(senderIp, 'ARP sender IP');
  checkIpv4(targetIp, 'ARP target IP');
  writeU16be(bytes, offset, ARPHRD_ETHER);
  writeU16be(bytes, offset + 2, ETH_P_IP);
  bytes[offset + 4] = 6;
  bytes[offset + 5] = 4;
  writeU16be(bytes, offset + 6, operation);
  writeMac(bytes, offset + 8, senderMac);
  writeU32be(bytes, offset + 14, senderIp);
  writeMac(bytes, offset + 18, targetMac);
  writeU32be(bytes, offset + 24, targetIp);
  return ARP_PACKET_BYTES;
}

/** Ethernet header + ARP packet; returns the frame length (42, or 46 tagged). */
function writeArpFrame(
  bytes: Uint8Array,
  offset: number,
  capacity: number,
  vlanTci: number,
  etherType: number,
  ethDstMac: number,
  operation: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  checkSpan(bytes, offset, capacity, 'ARP frame destination');
  requireCapacity(capacity, ethernetHeaderLength(vlanTci) + ARP_PACKET_BYTES, 'an ARP frame');
  const header = writeEthernetHeader(bytes, offset, capacity, ethDstMac, senderMac, etherType, vlanTci);
  return header + writeArpPacket(bytes, offset + header, capacity - header, operation, senderMac, senderIp, targetMac, targetIp);
}

/**
 * "Who has targetIp? Tell ourIp": broadcast, zero target MAC (as Linux's
 * arp_send). Returns the frame length (42, or 46 tagged; not padded).
 */
export function buildArpRequestFrame(bytes: Uint8Array, offset: number, capacity: number, vlanTci: number, ourMac: number, ourIp: number, targetIp: number): number {
  return writeArpFrame(bytes, offset, capacity, vlanTci, ETH_P_ARP, BROADCAST_MAC, ARPOP_REQUEST, ourMac, ourIp, ZERO_MAC, targetIp);
}

/** "ourIp is at ourMac", unicast back to the requester. Returns the frame length. */
export function buildArpReplyFrame(
  bytes: Uint8Array,
  offset: number,
  capacity: number,
  vlanTci: number,
  ourMac: number,
  ourIp: number,
  requesterMac: number,
  requesterIp: number,
): number {
  return writeArpFrame(bytes, offset, capacity, vlanTci, ETH_P_ARP, requesterMac, ARPOP_REPLY, ourMac, ourIp, requesterMac, requesterIp);
}

/** Gratuitous ARP (announce): broadcast request for our own IP. Returns the frame length. */
export function buildGratuitousArpFrame(bytes: Uint8Array, offset: number, capacity: number, vlanTci: number, ourMac: number, ourIp: number): number {
  return writeArpFrame(bytes, offset, capacity, vlanTci, ETH_P_ARP, BROADCAST_MAC, ARPOP_REQUEST, ourMac, ourIp, ZERO_MAC, ourIp);
}

/** QEMU's 60-byte RARP self-announce for `nicMac` (layout in the file header). Returns 60. */
export function buildRarpAnnounceFrame(bytes: Uint8Array, offset: number, capacity: number, nicMac: number): number {
  checkSpan(bytes, offset, capacity, 'RARP frame destination');
  requireCapacity(capacity, ETH_ZLEN, 'a RARP announce frame');
  const length = writeArpFrame(bytes, offset, capacity, NO_VLAN_TAG, ETH_P_RARP, BROADCAST_MAC, ARPOP_RREQUEST, nicMac, 0, nicMac, 0);
  bytes.fill(0, offset + length, offset + ETH_ZLEN);
  return ETH_ZLEN;
}

/**
 * Recognise QEMU's self-announce: an untagged broadcast RARP reverse request
 * whose sender and target MACs are the Ethernet source. Returns the announced
 * MAC, or NOT_AN_ANNOUNCE. (QEMU's vhost-user net client watches for the same
 * frame to trigger VHOST_USER_SEND_RARP.) Padding is not required: a 42-byte
 * frame with the right fields counts. Pass scratch headers to avoid
 * allocating two small objects per call.
 */
export function parseRarpAnnounceFrame(bytes: Uint8Array, offset: number, length: number, scratchEthernet = new EthernetHeader(), scratchArp = new ArpPacket()): number {
  if (parseEthernetHeader(bytes, offset, length, scratchEthernet) !== DropReason.None) return NOT_AN_ANNOUNCE;
  if (scratchEthernet.isVlanTagged || scratchEthernet.etherType !== ETH_P_RARP || scratchEthernet.dstMac !== BROADCAST_MAC) return NOT_AN_ANNOUNCE;
  if (parseArpPacket(bytes, offset + ETH_HLEN, length - ETH_HLEN, scratchArp) !== DropReason.None) return NOT_AN_ANNOUNCE;
  const mac = scratchEthernet.srcMac;
  if (scratchArp.operation !== ARPOP_RREQUEST || scratchArp.senderMac !== mac || scratchArp.targetMac !== mac) return NOT_AN_ANNOUNCE;
  return mac;
}

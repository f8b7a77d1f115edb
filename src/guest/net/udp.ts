/**
 * UDP over IPv4 (RFC 768): parse with length and checksum validation, build
 * with a full, absent or partial (offloaded) checksum, and whole frames.
 *
 *    0               2               4               6               8
 *   +---------------+---------------+---------------+---------------+---------
 *   |  source port  |   dest port   |    length     |   checksum    | data …
 *   +---------------+---------------+---------------+---------------+---------
 *
 *   length   = header + data (≥ 8, ≤ the IP payload; IP payload bytes past it are ignored)
 *   checksum = Internet checksum of pseudo-header + header + data (see checksum.ts);
 *              0 on receive means "none" (allowed for IPv4); a computed 0 is sent as 0xffff
 *
 * Checksum modes when building:
 *   'full'    — computed here;
 *   'none'    — 0 (RFC 768 allows it over IPv4);
 *   'partial' — the folded pseudo-header sum, for a device that completes it
 *               (VIRTIO_NET_F_CSUM): the caller sets VIRTIO_NET_HDR_F_NEEDS_CSUM with
 *               csum_start = the UDP header's offset in the frame and csum_offset = 6,
 *               exactly as Linux leaves CHECKSUM_PARTIAL datagrams.
 *
 * A frame built by `buildUdpFrame`:  [Ethernet 14|18][IPv4 20][UDP 8][payload]
 * The payload is written by the caller first, at `udpFramePayloadOffset`, so
 * applications fill transmit buffers in place and nothing is copied.
 */

import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16be, requireCapacity, writeU16be } from './byte-access.js';
import { finishChecksum, foldChecksum, ipv4PseudoHeaderSum, isChecksumValid, onesComplementSum } from './checksum.js';
import { ETH_P_IP, ethernetHeaderLength, writeEthernetHeader } from './ethernet.js';
import { IPPROTO_UDP, IPV4_MAX_TOTAL_LENGTH, IPV4_MIN_HEADER_BYTES, writeIpv4Header } from './ipv4.js';
import type { Ipv4HeaderFields } from './ipv4.js';
import { checkIpv4 } from './ipv4-address.js';

export const UDP_HEADER_BYTES = 8;
/** Offset of the checksum inside the UDP header (virtio csum_offset for UDP). */
export const UDP_CHECKSUM_OFFSET = 6;
/** Largest UDP payload in one unfragmented IPv4 datagram. */
export const UDP_MAX_PAYLOAD = IPV4_MAX_TOTAL_LENGTH - IPV4_MIN_HEADER_BYTES - UDP_HEADER_BYTES;

export type UdpChecksumMode = 'full' | 'none' | 'partial';

/** A parsed UDP header. Reused across frames. */
export class UdpHeader {
  srcPort = 0;
  dstPort = 0;
  /** The header's length field (header + data). */
  length = 0;
  checksum = 0;
  /** Absolute index of the data in the parsed array. */
  payloadOffset = 0;
  payloadLength = 0;
}

/**
 * Parse the UDP datagram at bytes[offset, offset+length) (the IPv4 payload),
 * verifying its checksum against the pseudo-header of srcIp → dstIp unless
 * the checksum is 0 or `verifyChecksum` is false.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseUdpDatagram(bytes: Uint8Array, offset: number, length: number, srcIp: number, dstIp: number, out: UdpHeader, verifyChecksum = true): DropReason {
  checkSpan(bytes, offset, length, 'UDP datagram');
  if (length < UDP_HEADER_BYTES) return DropReason.UdpTruncated;
  out.srcPort = readU16be(bytes, offset);
  out.dstPort = readU16be(bytes, offset + 2);
  out.length = readU16be(bytes, offset + 4);
  out.checksum = readU16be(bytes, offset + 6);
  out.payloadOffset = offset + UDP_HEADER_BYTES;
  out.payloadLength = out.length - UDP_HEADER_BYTES;
  if (out.length < UDP_HEADER_BYTES || out.length > length) return DropReason.UdpBadLength;
  if (verifyChecksum && out.checksum !== 0 && !isChecksumValid(bytes, offset, out.length, ipv4PseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, out.length))) {
    return DropReason.UdpBadChecksum;
  }
  return DropReason.None;
}

/**
 * Write a UDP header for the `payloadLength` bytes already following it, with
 * the checksum `mode` asks for. Returns 8.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeUdpHeader(
  bytes: Uint8Array,
  offset: number,
  capacity: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
  srcIp: number,
  dstIp: number,
  mode: UdpChecksumMode,
): number {
  checkSpan(bytes, offset, capacity, 'UDP datagram destination');
  checkField(payloadLength, 0, UDP_MAX_PAYLOAD, 'UDP payload length');
  requireCapacity(capacity, UDP_HEADER_BYTES + payloadLength, 'a UDP datagram');
  checkField(srcPort, 0, 0xffff, 'UDP source port');
  checkField(dstPort, 0, 0xffff, 'UDP destination port');
  checkIpv4(srcIp, 'source IP');
  checkIpv4(dstIp, 'destination IP');
  const udpLength = UDP_HEADER_BYTES + payloadLength;
  writeU16be(bytes, offset, srcPort);
  writeU16be(bytes, offset + 2, dstPort);
  writeU16be(bytes, offset + 4, udpLength);
  const pseudo = ipv4PseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, udpLength);
  let checksum = 0;
  if (mode === 'full') {
    writeU16be(bytes, offset + UDP_CHECKSUM_OFFSET, 0);
    checksum = finishChecksum(onesComplementSum(bytes, offset, udpLength, pseudo)) || 0xffff; // 0 would mean "no checksum"
  } else if (mode === 'partial') {
    checksum = foldChecksum(pseudo);
  }
  writeU16be(bytes, offset + UDP_CHECKSUM_OFFSET, checksum);
  return UDP_HEADER_BYTES;
}

/** Everything `buildUdpFrame` needs besides the payload. */
export interface UdpFrameFields extends Ipv4HeaderFields {
  dstMac: number;
  srcMac: number;
  /** NO_VLAN_TAG, or the TCI to tag with. */
  vlanTci: number;
  srcPort: number;
  dstPort: number;
  checksumMode: UdpChecksumMode;
}

/** Offset of the UDP header from the frame start (the virtio csum_start for 'partial'). */
export function udpHeaderOffsetInFrame(vlanTci: number): number {
  return ethernetHeaderLength(vlanTci) + IPV4_MIN_HEADER_BYTES;
}

/** Offset of the UDP payload from the frame start: where the caller writes it before `buildUdpFrame`. */
export function udpFramePayloadOffset(vlanTci: number): number {
  return udpHeaderOffsetInFrame(vlanTci) + UDP_HEADER_BYTES;
}

/**
 * Write Ethernet + IPv4 + UDP headers around the `payloadLength` bytes the
 * caller placed at offset + udpFramePayloadOffset(fields.vlanTci). Returns
 * the frame length.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function buildUdpFrame(bytes: Uint8Array, offset: number, capacity: number, fields: UdpFrameFields, payloadLength: number): number {
  checkSpan(bytes, offset, capacity, 'UDP frame destination');
  checkField(payloadLength, 0, UDP_MAX_PAYLOAD, 'UDP payload length');
  const udpAt = udpHeaderOffsetInFrame(fields.vlanTci);
  const frameLength = udpAt + UDP_HEADER_BYTES + payloadLength;
  requireCapacity(capacity, frameLength, 'a UDP frame');
  const ethLength = writeEthernetHeader(bytes, offset, capacity, fields.dstMac, fields.srcMac, ETH_P_IP, fields.vlanTci);
  writeUdpHeader(bytes, offset + udpAt, capacity - udpAt, fields.srcPort, fields.dstPort, payloadLength, fields.srcIp, fields.dstIp, fields.checksumMode);
  writeIpv4Header(bytes, offset + ethLength, capacity - ethLength, IPPROTO_UDP, fields, UDP_HEADER_BYTES + payloadLength);
  return frameLength;
}

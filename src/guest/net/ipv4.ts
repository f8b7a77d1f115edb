/**
 * IPv4 header (RFC 791 §3.1): parse with validation, build with checksum.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------+-------+---------------+-------------------------------+
 *   |Version|  IHL  |   DSCP/ECN    |         Total Length          |
 *   +-------+-------+---------------+-----+-------------------------+
 *   |        Identification         |0|D|M|     Fragment Offset     |
 *   +---------------+---------------+-----+-------------------------+
 *   |      TTL      |   Protocol    |        Header Checksum        |
 *   +---------------+---------------+-------------------------------+
 *   |                        Source Address                         |
 *   +---------------------------------------------------------------+
 *   |                      Destination Address                      |
 *   +---------------------------------------------------------------+
 *   |             Options (IHL > 5: up to 40 bytes) …               |
 *   +---------------------------------------------------------------+
 *
 * Receive rules (the order follows Linux's ip_rcv_core, so drop counters
 * mean the same thing): header present, version 4, IHL ≥ 5 and inside the
 * frame, total length between the header and the frame (bytes past it are
 * Ethernet padding and are ignored), header checksum, then no fragments —
 * the stack does not reassemble, so MF or a non-zero offset drops. Options
 * are skipped, not interpreted. TTL is reported but never a reason to drop a
 * datagram addressed to us (RFC 1122 §3.2.1.7).
 */

import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16be, readU32be, requireCapacity, writeU16be, writeU32be } from './byte-access.js';
import { internetChecksum, isChecksumValid } from './checksum.js';
import { checkIpv4 } from './ipv4-address.js';

export const IPV4_MIN_HEADER_BYTES = 20;
export const IPV4_MAX_HEADER_BYTES = 60;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;
export const IPV4_DEFAULT_TTL = 64;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** Flag and offset masks of the 16-bit flags/fragment-offset word (Linux's names). */
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

/** A parsed IPv4 header. Reused across frames. */
export class Ipv4Header {
  headerLength = 0;
  tos = 0;
  totalLength = 0;
  identification = 0;
  dontFragment = false;
  moreFragments = false;
  /** In 8-byte units, as on the wire. */
  fragmentOffset = 0;
  ttl = 0;
  protocol = 0;
  headerChecksum = 0;
  srcIp = 0;
  dstIp = 0;
  /** headerLength − 20. */
  optionsLength = 0;
  /** Absolute index of the payload (after options) in the parsed array. */
  payloadOffset = 0;
  /** totalLength − headerLength: padding after the datagram is excluded. */
  payloadLength = 0;
}

/** What `writeIpv4Header` puts in the fields it does not derive (the protocol is an argument). */
export interface Ipv4HeaderFields {
  srcIp: number;
  dstIp: number;
  ttl: number;
  identification: number;
  /** DSCP/ECN byte; 0 when omitted. */
  tos?: number;
  /** Set DF (Linux sets it on datagrams that fit the path MTU); clear when omitted. */
  dontFragment?: boolean;
}

/**
 * Parse the IPv4 header of the datagram at bytes[offset, offset+length) (the
 * Ethernet payload, padding included). Fills `out` as far as it gets.
 * @param verifyChecksum false only when something upstream verified it
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseIpv4Header(bytes: Uint8Array, offset: number, length: number, out: Ipv4Header, verifyChecksum = true): DropReason {
  checkSpan(bytes, offset, length, 'IPv4 datagram');
  if (length < IPV4_MIN_HEADER_BYTES) return DropReason.Ipv4Truncated;
  const versionIhl = bytes[offset]!;
  if (versionIhl >>> 4 !== 4) return DropReason.Ipv4BadVersion;
  const headerLength = (versionIhl & 0xf) * 4;
  out.headerLength = headerLength;
  out.tos = bytes[offset + 1]!;
  out.totalLength = readU16be(bytes, offset + 2);
  out.identification = readU16be(bytes, offset + 4);
  const flagsOffset = readU16be(bytes, offset + 6);
  out.dontFragment = (flagsOffset & IP_DF) !== 0;
  out.moreFragments = (flagsOffset & IP_MF) !== 0;
  out.fragmentOffset = flagsOffset & IP_OFFMASK;
  out.ttl = bytes[offset + 8]!;
  out.protocol = bytes[offset + 9]!;
  out.headerChecksum = readU16be(bytes, offset + 10);
  out.srcIp = readU32be(bytes, offset + 12);
  out.dstIp = readU32be(bytes, offset + 16);
  out.optionsLength = headerLength - IPV4_MIN_HEADER_BYTES;
  out.payloadOffset = offset + headerLength;
  out.payloadLength = out.totalLength - headerLength;
  if (headerLength < IPV4_MIN_HEADER_BYTES || headerLength > length) return DropReason.Ipv4BadHeaderLength;
  if (out.totalLength < headerLength || out.totalLength > length) return DropReason.Ipv4BadTotalLength;
  if (verifyChecksum && !isChecksumValid(bytes, offset, headerLength)) return DropReason.Ipv4BadChecksum;
  if (out.moreFragments || out.fragmentOffset !== 0) return DropReason.Ipv4Fragment;
  return DropReason.None;
}

/**
 * Write a 20-byte IPv4 header (no options) with its checksum, for a payload
 * of `payloadLength` bytes that follows it. Returns 20.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeIpv4Header(bytes: Uint8Array, offset: number, capacity: number, protocol: number, fields: Ipv4HeaderFields, payloadLength: number): number {
  checkSpan(bytes, offset, capacity, 'IPv4 header destination');
  requireCapacity(capacity, IPV4_MIN_HEADER_BYTES, 'an IPv4 header');
  checkField(payloadLength, 0, IPV4_MAX_TOTAL_LENGTH - IPV4_MIN_HEADER_BYTES, 'IPv4 payload length');
  checkField(protocol, 0, 0xff, 'IP protocol');
  checkField(fields.ttl, 1, 0xff, 'TTL'); // RFC 1122 §3.2.1.7: a host must not send TTL 0
  checkField(fields.identification, 0, 0xffff, 'IP identification');
  checkField(fields.tos ?? 0, 0, 0xff, 'DSCP/ECN');
  checkIpv4(fields.srcIp, 'source IP');
  checkIpv4(fields.dstIp, 'destination IP');
  bytes[offset] = 0x45;
  bytes[offset + 1] = fields.tos ?? 0;
  writeU16be(bytes, offset + 2, IPV4_MIN_HEADER_BYTES + payloadLength);
  writeU16be(bytes, offset + 4, fields.identification);
  writeU16be(bytes, offset + 6, fields.dontFragment === true ? IP_DF : 0);
  bytes[offset + 8] = fields.ttl;
  bytes[offset + 9] = protocol;
  writeU16be(bytes, offset + 10, 0);
  writeU32be(bytes, offset + 12, fields.srcIp);
  writeU32be(bytes, offset + 16, fields.dstIp);
  writeU16be(bytes, offset + 10, internetChecksum(bytes, offset, IPV4_MIN_HEADER_BYTES));
  return IPV4_MIN_HEADER_BYTES;
}

/**
 * ICMP echo (RFC 792): parse an ICMP message header, build echo request/reply
 * messages and frames.
 *
 *    0       1       2               4               6               8
 *   +-------+-------+---------------+---------------+---------------+--------
 *   | type  | code  |   checksum    |  identifier   |   sequence    | data …
 *   +-------+-------+---------------+---------------+---------------+--------
 *
 *   type 8 = echo request, 0 = echo reply (code 0 for both)
 *   checksum = Internet checksum of the whole ICMP message (no pseudo-header)
 *
 * The reply echoes identifier, sequence and data unchanged (RFC 792 "Echo or
 * Echo Reply Message"). Like UDP frames, the data goes in first (at
 * `icmpEchoFrameDataOffset`), then the headers are written around it.
 */

import { VmigError } from '../../core/index.js';
import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16be, requireCapacity, writeU16be } from './byte-access.js';
import { internetChecksum, isChecksumValid } from './checksum.js';
import { ETH_P_IP, ethernetHeaderLength, writeEthernetHeader } from './ethernet.js';
import { IPPROTO_ICMP, IPV4_MAX_TOTAL_LENGTH, IPV4_MIN_HEADER_BYTES, writeIpv4Header } from './ipv4.js';
import type { Ipv4HeaderFields } from './ipv4.js';

export const ICMP_ECHOREPLY = 0;
export const ICMP_ECHO = 8;
export const ICMP_ECHO_HEADER_BYTES = 8;
/** Largest echo data in one unfragmented IPv4 datagram. */
export const ICMP_ECHO_MAX_DATA = IPV4_MAX_TOTAL_LENGTH - IPV4_MIN_HEADER_BYTES - ICMP_ECHO_HEADER_BYTES;

/** A parsed ICMP message header (identifier/sequence meaningful for echo). Reused across frames. */
export class IcmpMessage {
  type = 0;
  code = 0;
  checksum = 0;
  identifier = 0;
  sequence = 0;
  /** Absolute index of the data after the 8-byte header. */
  dataOffset = 0;
  dataLength = 0;
}

/**
 * Parse the ICMP message at bytes[offset, offset+length) (the whole IPv4
 * payload: the checksum covers all of it).
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseIcmpMessage(bytes: Uint8Array, offset: number, length: number, out: IcmpMessage, verifyChecksum = true): DropReason {
  checkSpan(bytes, offset, length, 'ICMP message');
  if (length < ICMP_ECHO_HEADER_BYTES) return DropReason.IcmpTruncated;
  out.type = bytes[offset]!;
  out.code = bytes[offset + 1]!;
  out.checksum = readU16be(bytes, offset + 2);
  out.identifier = readU16be(bytes, offset + 4);
  out.sequence = readU16be(bytes, offset + 6);
  out.dataOffset = offset + ICMP_ECHO_HEADER_BYTES;
  out.dataLength = length - ICMP_ECHO_HEADER_BYTES;
  if (verifyChecksum && !isChecksumValid(bytes, offset, length)) return DropReason.IcmpBadChecksum;
  return DropReason.None;
}

/**
 * Write an echo header (request or reply) for the `dataLength` bytes already
 * following it, checksum included. Returns 8.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeIcmpEcho(bytes: Uint8Array, offset: number, capacity: number, type: number, identifier: number, sequence: number, dataLength: number): number {
  checkSpan(bytes, offset, capacity, 'ICMP message destination');
  checkField(dataLength, 0, ICMP_ECHO_MAX_DATA, 'ICMP echo data length');
  requireCapacity(capacity, ICMP_ECHO_HEADER_BYTES + dataLength, 'an ICMP echo message');
  if (type !== ICMP_ECHO && type !== ICMP_ECHOREPLY) {
    throw new VmigError('ERR_GUEST_BAD_ARGUMENT', `Invalid ICMP echo type: ${type} is neither ICMP_ECHO (8) nor ICMP_ECHOREPLY (0)`, { details: { type } });
  }
  checkField(identifier, 0, 0xffff, 'ICMP identifier');
  checkField(sequence, 0, 0xffff, 'ICMP sequence');
  bytes[offset] = type;
  bytes[offset + 1] = 0;
  writeU16be(bytes, offset + 2, 0);
  writeU16be(bytes, offset + 4, identifier);
  writeU16be(bytes, offset + 6, sequence);
  writeU16be(bytes, offset + 2, internetChecksum(bytes, offset, ICMP_ECHO_HEADER_BYTES + dataLength));
  return ICMP_ECHO_HEADER_BYTES;
}

/** Everything `buildIcmpEchoFrame` needs besides the data. */
export interface IcmpEchoFrameFields extends Ipv4HeaderFields {
  dstMac: number;
  srcMac: number;
  /** NO_VLAN_TAG, or the TCI to tag with. */
  vlanTci: number;
  /** ICMP_ECHO or ICMP_ECHOREPLY. */
  type: number;
  identifier: number;
  sequence: number;
}

/** Offset of the echo data from the frame start: where it goes before `buildIcmpEchoFrame`. */
export function icmpEchoFrameDataOffset(vlanTci: number): number {
  return ethernetHeaderLength(vlanTci) + IPV4_MIN_HEADER_BYTES + ICMP_ECHO_HEADER_BYTES;
}

/**
 * Write Ethernet + IPv4 + ICMP echo headers around the `dataLength` bytes at
 * offset + icmpEchoFrameDataOffset(fields.vlanTci). Returns the frame length.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function buildIcmpEchoFrame(bytes: Uint8Array, offset: number, capacity: number, fields: IcmpEchoFrameFields, dataLength: number): number {
  checkSpan(bytes, offset, capacity, 'ICMP frame destination');
  checkField(dataLength, 0, ICMP_ECHO_MAX_DATA, 'ICMP echo data length');
  const ethLength = ethernetHeaderLength(fields.vlanTci);
  const icmpAt = ethLength + IPV4_MIN_HEADER_BYTES;
  const frameLength = icmpAt + ICMP_ECHO_HEADER_BYTES + dataLength;
  requireCapacity(capacity, frameLength, 'an ICMP echo frame');
  writeEthernetHeader(bytes, offset, capacity, fields.dstMac, fields.srcMac, ETH_P_IP, fields.vlanTci);
  writeIpv4Header(bytes, offset + ethLength, capacity - ethLength, IPPROTO_ICMP, fields, ICMP_ECHO_HEADER_BYTES + dataLength);
  writeIcmpEcho(bytes, offset + icmpAt, capacity - icmpAt, fields.type, fields.identifier, fields.sequence, dataLength);
  return frameLength;
}

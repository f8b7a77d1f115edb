/**
 * struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6): the header in front of every
 * frame in a virtio-net buffer once VIRTIO_F_VERSION_1 is negotiated, and the
 * receive-side completion of a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM).
 *
 * 12 bytes, little-endian:
 *
 *    0       1          2         4          6            8             10            12
 *   +-------+----------+---------+----------+------------+-------------+-------------+
 *   | flags | gso_type | hdr_len | gso_size | csum_start | csum_offset | num_buffers |
 *   +-------+----------+---------+----------+------------+-------------+-------------+
 *
 *   flags     NEEDS_CSUM 1: the L4 checksum is partial — the field at
 *                        csum_start + csum_offset holds the pseudo-header sum; the
 *                        ones' complement of the sum from csum_start to the end of
 *                        the frame completes it (§5.1.6.2, §5.1.6.4)
 *             DATA_VALID 2: the device verified the checksum
 *             RSC_INFO   4: (RSC only) gso fields carry coalescing counts
 *   gso_type  NONE 0, TCPV4 1, UDP 3, TCPV6 4, UDP_L4 5, | ECN 0x80
 *   csum_*    offsets from the start of the Ethernet frame (after this header)
 *   num_buffers  buffers this frame spans (MRG_RXBUF); 1 otherwise
 *
 * Not covered: the 20-byte virtio_net_hdr_v1_hash (VIRTIO_NET_F_HASH_REPORT)
 * and the 10-byte legacy header; the guest negotiates neither.
 */

import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16le, requireCapacity, writeU16be, writeU16le } from './byte-access.js';
import { finishChecksum, onesComplementSum } from './checksum.js';

export const VIRTIO_NET_HDR_V1_BYTES = 12;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_F_RSC_INFO = 4;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** The header's fields, as written by `writeVirtioNetHeader`. */
export interface VirtioNetHeaderFields {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;
}

/** A parsed header. Reused across buffers. */
export class VirtioNetHeader implements VirtioNetHeaderFields {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;
  numBuffers = 0;
}

/**
 * Parse the header at bytes[offset, offset+length) (the start of a receive
 * buffer). Fields are taken as they are; what they mean for the frame is
 * checked where they are used.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseVirtioNetHeader(bytes: Uint8Array, offset: number, length: number, out: VirtioNetHeader): DropReason {
  checkSpan(bytes, offset, length, 'virtio-net buffer');
  if (length < VIRTIO_NET_HDR_V1_BYTES) return DropReason.VirtioHeaderTruncated;
  out.flags = bytes[offset]!;
  out.gsoType = bytes[offset + 1]!;
  out.hdrLen = readU16le(bytes, offset + 2);
  out.gsoSize = readU16le(bytes, offset + 4);
  out.csumStart = readU16le(bytes, offset + 6);
  out.csumOffset = readU16le(bytes, offset + 8);
  out.numBuffers = readU16le(bytes, offset + 10);
  return DropReason.None;
}

/**
 * Write a 12-byte header. Returns 12.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeVirtioNetHeader(bytes: Uint8Array, offset: number, capacity: number, header: VirtioNetHeaderFields): number {
  checkSpan(bytes, offset, capacity, 'virtio-net header destination');
  requireCapacity(capacity, VIRTIO_NET_HDR_V1_BYTES, 'a virtio-net header');
  checkField(header.flags, 0, 0xff, 'virtio-net header flags');
  checkField(header.gsoType, 0, 0xff, 'virtio-net gso_type');
  checkField(header.hdrLen, 0, 0xffff, 'virtio-net hdr_len');
  checkField(header.gsoSize, 0, 0xffff, 'virtio-net gso_size');
  checkField(header.csumStart, 0, 0xffff, 'virtio-net csum_start');
  checkField(header.csumOffset, 0, 0xffff, 'virtio-net csum_offset');
  checkField(header.numBuffers, 0, 0xffff, 'virtio-net num_buffers');
  bytes[offset] = header.flags;
  bytes[offset + 1] = header.gsoType;
  writeU16le(bytes, offset + 2, header.hdrLen);
  writeU16le(bytes, offset + 4, header.gsoSize);
  writeU16le(bytes, offset + 6, header.csumStart);
  writeU16le(bytes, offset + 8, header.csumOffset);
  writeU16le(bytes, offset + 10, header.numBuffers);
  return VIRTIO_NET_HDR_V1_BYTES;
}

/**
 * Complete a partial checksum in the frame at bytes[frameOffset,
 * frameOffset+frameLength): sum from csumStart to the end of the frame (the
 * checksum field holds the pseudo-header sum), fold, complement, and store it
 * at csumStart + csumOffset — as Linux's skb_checksum_help, including writing
 * a result of 0 as 0xffff (equal in ones' complement, and 0 would mean "no
 * checksum" to UDP). Returns VirtioBadPartialChecksum, writing nothing, when
 * the offsets do not fit the frame. Bytes touched: the 2-byte field.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function completePartialChecksum(bytes: Uint8Array, frameOffset: number, frameLength: number, csumStart: number, csumOffset: number): DropReason {
  checkSpan(bytes, frameOffset, frameLength, 'frame');
  // Both offsets come from the device (or a hostile host): check before touching anything.
  if (csumStart >= frameLength || csumStart + csumOffset + 2 > frameLength) return DropReason.VirtioBadPartialChecksum;
  const start = frameOffset + csumStart;
  const checksum = finishChecksum(onesComplementSum(bytes, start, frameLength - csumStart));
  writeU16be(bytes, start + csumOffset, checksum === 0 ? 0xffff : checksum);
  return DropReason.None;
}

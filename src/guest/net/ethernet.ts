/**
 * Ethernet II and 802.1Q: parse, build, and insert/strip a VLAN tag in place.
 *
 * Frames as virtio-net carries them (no preamble, no FCS):
 *
 *    0                 6                 12     14
 *   +-----------------+-----------------+------+-------------
 *   | destination MAC |   source MAC    | type | payload …
 *   +-----------------+-----------------+------+-------------
 *
 * 802.1Q tagged: a 4-byte tag between the source MAC and the type:
 *
 *    0                 6                 12     14     16     18
 *   +-----------------+-----------------+------+------+------+----------
 *   | destination MAC |   source MAC    | TPID | TCI  | type | payload …
 *   |                 |                 |8100  |      |      |
 *   +-----------------+-----------------+------+------+------+----------
 *
 *   TCI   15    13  12  11                                   0
 *        +--------+---+-------------------------------------+
 *        |  PCP   |DEI|                VID                  |
 *        +--------+---+-------------------------------------+
 *
 * VID 0 means "priority-tagged, no VLAN" (the frame belongs to the untagged
 * interface); VID 4095 is reserved. Constant names follow Linux's
 * <linux/if_ether.h> and <linux/if_vlan.h>.
 *
 * Insert/strip work in place the way Linux's __vlan_insert_tag/skb_vlan_untag
 * do: they move the 12 MAC bytes (cheap) rather than the payload, so the frame
 * start moves by 4 bytes and the function returns the new start.
 */

import { DropReason } from './drop-reason.js';
import { checkField, checkSpan, readU16be, requireCapacity, writeU16be } from './byte-access.js';
import { checkMac, readMac, writeMac } from './mac-address.js';

export const ETH_ALEN = 6;
/** Ethernet II header without a tag. */
export const ETH_HLEN = 14;
/** Minimum frame length without FCS: shorter frames are padded (QEMU's RARP is exactly this). */
export const ETH_ZLEN = 60;
/** Type/length values below this are 802.3 lengths, not ethertypes. */
export const ETH_P_802_3_MIN = 0x0600;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_RARP = 0x8035;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021AD = 0x88a8;

/** Bytes an 802.1Q tag adds. */
export const VLAN_HLEN = 4;
/** Header length of a tagged frame. */
export const VLAN_ETH_HLEN = ETH_HLEN + VLAN_HLEN;
export const VLAN_PRIO_SHIFT = 13;
export const VLAN_CFI_MASK = 0x1000;
export const VLAN_VID_MASK = 0x0fff;
/** Number of VLAN ids (0..4095). */
export const VLAN_N_VID = 4096;
/** 802.1Q reserves VID 4095. */
export const VLAN_RESERVED_VID = 4095;
/** The `vlanTci` argument that means "write no tag". */
export const NO_VLAN_TAG = -1;
/** What `stripVlanTag` returns when the frame carries no complete tag. */
export const NOT_TAGGED = -1;

/** A parsed Ethernet header. Reused across frames: the caller owns one per receive path. */
export class EthernetHeader {
  dstMac = 0;
  srcMac = 0;
  /** An 802.1Q tag was present (its VID may be 0: priority-tagged). */
  isVlanTagged = false;
  /** The tag's TCI, 0 when untagged. */
  vlanTci = 0;
  /** The (inner, when tagged) ethertype. */
  etherType = 0;
  /** 14, or 18 with a tag. */
  headerLength = 0;
  /** Absolute index of the payload in the parsed array. */
  payloadOffset = 0;
  payloadLength = 0;

  get vlanId(): number {
    return this.vlanTci & VLAN_VID_MASK;
  }

  get vlanPriority(): number {
    return this.vlanTci >>> VLAN_PRIO_SHIFT;
  }
}

/** Compose a TCI. @throws VmigError ERR_GUEST_BAD_ARGUMENT on out-of-range fields */
export function makeVlanTci(vlanId: number, priority = 0, dropEligible = false): number {
  checkField(vlanId, 0, VLAN_RESERVED_VID - 1, 'VLAN id');
  checkField(priority, 0, 7, 'VLAN priority (PCP)');
  return (priority << VLAN_PRIO_SHIFT) | (dropEligible ? VLAN_CFI_MASK : 0) | vlanId;
}

export function vlanIdOfTci(tci: number): number {
  return tci & VLAN_VID_MASK;
}

export function vlanPriorityOfTci(tci: number): number {
  return (tci >>> VLAN_PRIO_SHIFT) & 7;
}

export function vlanDropEligibleOfTci(tci: number): boolean {
  return (tci & VLAN_CFI_MASK) !== 0;
}

/** The tag to send on a sub-interface: none for VLAN 0 (the untagged interface). */
export function vlanTciForInterface(vlanId: number): number {
  return vlanId === 0 ? NO_VLAN_TAG : makeVlanTci(vlanId);
}

/** Header length for a `vlanTci` argument (NO_VLAN_TAG → 14, else 18). */
export function ethernetHeaderLength(vlanTci: number): number {
  return vlanTci === NO_VLAN_TAG ? ETH_HLEN : VLAN_ETH_HLEN;
}

/**
 * Parse the Ethernet header (and one 802.1Q tag) of the frame at
 * bytes[offset, offset+length). Fills `out`; returns DropReason.None or why
 * the frame cannot be Ethernet II. Reads nothing outside the span.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE if the span is outside `bytes`
 */
export function parseEthernetHeader(bytes: Uint8Array, offset: number, length: number, out: EthernetHeader): DropReason {
  checkSpan(bytes, offset, length, 'Ethernet frame');
  if (length < ETH_HLEN) return DropReason.FrameTooShort;
  out.dstMac = readMac(bytes, offset);
  out.srcMac = readMac(bytes, offset + ETH_ALEN);
  // Fields are filled as far as parsing got, so a dropped frame can still be inspected.
  out.etherType = readU16be(bytes, offset + 12);
  out.isVlanTagged = false;
  out.vlanTci = 0;
  out.headerLength = ETH_HLEN;
  out.payloadOffset = offset + ETH_HLEN;
  out.payloadLength = length - ETH_HLEN;
  if (out.etherType === ETH_P_8021AD) return DropReason.VlanStacked;
  if (out.etherType === ETH_P_8021Q) {
    if (length < VLAN_ETH_HLEN) return DropReason.VlanTruncated;
    out.isVlanTagged = true;
    out.vlanTci = readU16be(bytes, offset + 14);
    out.etherType = readU16be(bytes, offset + 16);
    out.headerLength = VLAN_ETH_HLEN;
    out.payloadOffset = offset + VLAN_ETH_HLEN;
    out.payloadLength = length - VLAN_ETH_HLEN;
    if (out.etherType === ETH_P_8021Q || out.etherType === ETH_P_8021AD) return DropReason.VlanStacked;
    if ((out.vlanTci & VLAN_VID_MASK) === VLAN_RESERVED_VID) return DropReason.VlanReservedId;
  }
  if (out.etherType < ETH_P_802_3_MIN) return DropReason.NotEthernetII;
  return DropReason.None;
}

/**
 * Write an Ethernet header, tagged unless `vlanTci` is NO_VLAN_TAG. Returns
 * the header length (14 or 18); the payload goes right after it.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL, ERR_GUEST_BAD_ARGUMENT, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function writeEthernetHeader(
  bytes: Uint8Array,
  offset: number,
  capacity: number,
  dstMac: number,
  srcMac: number,
  etherType: number,
  vlanTci: number = NO_VLAN_TAG,
): number {
  checkSpan(bytes, offset, capacity, 'Ethernet header destination');
  checkMac(dstMac, 'destination MAC');
  checkMac(srcMac, 'source MAC');
  checkField(etherType, ETH_P_802_3_MIN, 0xffff, 'ethertype');
  const headerLength = ethernetHeaderLength(vlanTci);
  requireCapacity(capacity, headerLength, 'an Ethernet header');
  writeMac(bytes, offset, dstMac);
  writeMac(bytes, offset + ETH_ALEN, srcMac);
  if (headerLength === VLAN_ETH_HLEN) {
    checkField(vlanTci, 0, 0xffff, 'VLAN TCI');
    writeU16be(bytes, offset + 12, ETH_P_8021Q);
    writeU16be(bytes, offset + 14, vlanTci);
    writeU16be(bytes, offset + 16, etherType);
  } else {
    writeU16be(bytes, offset + 12, etherType);
  }
  return headerLength;
}

/**
 * Insert an 802.1Q tag into the frame at bytes[offset, offset+length), using
 * the 4 bytes of headroom before `offset`. Returns the new frame start
 * (offset − 4); the new length is length + 4. Bytes touched: [offset−4, offset+12).
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL without headroom or a complete header; ERR_GUEST_BAD_ARGUMENT for a bad TCI
 */
export function insertVlanTag(bytes: Uint8Array, offset: number, length: number, vlanTci: number): number {
  checkSpan(bytes, offset, length, 'Ethernet frame');
  checkField(vlanTci, 0, 0xffff, 'VLAN TCI');
  requireCapacity(offset, VLAN_HLEN, 'a VLAN tag (headroom before the frame)');
  requireCapacity(length, ETH_HLEN, 'a VLAN tag (a complete Ethernet header)');
  const start = offset - VLAN_HLEN;
  bytes.copyWithin(start, offset, offset + 2 * ETH_ALEN);
  writeU16be(bytes, start + 12, ETH_P_8021Q);
  writeU16be(bytes, start + 14, vlanTci);
  return start;
}

/**
 * Remove the 802.1Q tag of the frame at bytes[offset, offset+length) in place.
 * Returns the new frame start (offset + 4; new length length − 4), or
 * NOT_TAGGED, leaving the frame untouched, when it has no complete tag. Read
 * the TCI first (parseEthernetHeader) if it matters. Bytes touched: [offset+4, offset+16).
 */
export function stripVlanTag(bytes: Uint8Array, offset: number, length: number): number {
  checkSpan(bytes, offset, length, 'Ethernet frame');
  if (length < VLAN_ETH_HLEN || readU16be(bytes, offset + 12) !== ETH_P_8021Q) return NOT_TAGGED;
  bytes.copyWithin(offset + VLAN_HLEN, offset, offset + 2 * ETH_ALEN);
  return offset + VLAN_HLEN;
}

/**
 * Zero-pad a frame to ETH_ZLEN (60) bytes, as a NIC pads short frames on the
 * wire. Returns the new length (unchanged if already long enough).
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL if the padding does not fit in `capacity`
 */
export function padToMinimumFrame(bytes: Uint8Array, offset: number, length: number, capacity: number): number {
  checkSpan(bytes, offset, capacity, 'Ethernet frame buffer');
  if (length >= ETH_ZLEN) return length;
  requireCapacity(capacity, ETH_ZLEN, 'a padded Ethernet frame');
  bytes.fill(0, offset + length, offset + ETH_ZLEN);
  return ETH_ZLEN;
}

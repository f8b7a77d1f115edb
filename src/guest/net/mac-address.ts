/**
 * MAC addresses as plain numbers.
 *
 * A 48-bit MAC fits exactly in a JS number (< 2^53), so the stack carries
 * MACs as numbers: compared with `===`, stored in parse results without
 * allocating, written into frames with `writeMac`. The number's most
 * significant byte is the first byte on the wire:
 *
 *   "52:54:00:12:34:56"  ⇄  0x5254_0012_3456
 *
 *   first octet:  bit 0 = I/G (1 = group: multicast/broadcast)
 *                 bit 1 = U/L (1 = locally administered)
 *
 * Multicast mappings (RFC 1112 §6.4, RFC 2464 §7):
 *   IPv4 group G  →  01:00:5e + low 23 bits of G
 *   IPv6 group A  →  33:33    + low 32 bits of A
 */

import { VmigError } from '../../core/index.js';
import { checkField, readU32be } from './byte-access.js';

export const MAC_ADDRESS_BYTES = 6;
export const BROADCAST_MAC = 0xffff_ffff_ffff;
export const ZERO_MAC = 0;

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_40 = 0x100_0000_0000;
const IPV4_MULTICAST_MAC_BASE = 0x0100_5e00_0000;
const IPV6_MULTICAST_MAC_BASE = 0x3333_0000_0000;

/** The MAC stored at `bytes[at..at+6)` (the caller has checked the span). */
export function readMac(bytes: Uint8Array, at: number): number {
  const high16 = (bytes[at]! << 8) | bytes[at + 1]!;
  return high16 * TWO_POW_32 + readU32be(bytes, at + 2);
}

/** Store `mac` at `bytes[at..at+6)` (the caller has checked the span). */
export function writeMac(bytes: Uint8Array, at: number, mac: number): void {
  const high16 = Math.floor(mac / TWO_POW_32);
  const low32 = mac >>> 0; // ToUint32 is exact modulo 2^32 for integers below 2^53
  bytes[at] = high16 >>> 8;
  bytes[at + 1] = high16;
  bytes[at + 2] = low32 >>> 24;
  bytes[at + 3] = low32 >>> 16;
  bytes[at + 4] = low32 >>> 8;
  bytes[at + 5] = low32;
}

/** True for an integer in [0, 2^48). */
export function isMacAddress(mac: number): boolean {
  return Number.isInteger(mac) && mac >= 0 && mac <= BROADCAST_MAC;
}

/** @throws VmigError ERR_GUEST_BAD_ARGUMENT unless `mac` is a 48-bit integer */
export function checkMac(mac: number, what: string): void {
  checkField(mac, 0, BROADCAST_MAC, what);
}

/** The first octet's I/G bit: multicast, broadcast included. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / TWO_POW_40) & 1) === 1;
}

export function isBroadcastMac(mac: number): boolean {
  return mac === BROADCAST_MAC;
}

/** Unicast and not all-zero: usable as an interface address. */
export function isUnicastMac(mac: number): boolean {
  return mac !== ZERO_MAC && !isMulticastMac(mac);
}

/** The first octet's U/L bit (QEMU's default 52:54:00:… has it set: 0x52 & 2). */
export function isLocallyAdministeredMac(mac: number): boolean {
  return (Math.floor(mac / TWO_POW_40) & 2) === 2;
}

/** Group MAC of an IPv4 multicast group (RFC 1112 §6.4): 01:00:5e + the group's low 23 bits. */
export function ipv4MulticastMac(group: number): number {
  return IPV4_MULTICAST_MAC_BASE + (group & 0x7f_ffff);
}

/** Group MAC of an IPv6 multicast address (RFC 2464 §7): 33:33 + its low 32 bits (address bytes 12..15). */
export function ipv6MulticastMac(address: Uint8Array, offset = 0): number {
  if (offset < 0 || offset + 16 > address.length) {
    throw new VmigError('ERR_GUEST_BAD_ARGUMENT', `Invalid IPv6 address: need 16 bytes at ${offset} of a ${address.length}-byte view`, {
      details: { offset, viewLength: address.length },
    });
  }
  return IPV6_MULTICAST_MAC_BASE + readU32be(address, offset + 12);
}

const MAC_TEXT = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;

/**
 * Parse "aa:bb:cc:dd:ee:ff" (or with '-' separators, any case).
 * @throws VmigError ERR_GUEST_BAD_ADDRESS for anything else
 */
export function parseMac(text: string): number {
  const m = MAC_TEXT.exec(text);
  if (!m) {
    throw new VmigError('ERR_GUEST_BAD_ADDRESS', `Invalid MAC address ${JSON.stringify(text)}: expected six hex pairs like 52:54:00:12:34:56`, {
      details: { text },
    });
  }
  let mac = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) mac = mac * 256 + parseInt(m[i]!, 16);
  return mac;
}

/** "52:54:00:12:34:56" (lowercase, colon-separated, as `ip link` prints it). */
export function formatMac(mac: number): string {
  checkMac(mac, 'MAC address');
  const hex = mac.toString(16).padStart(12, '0');
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

/**
 * IPv4 addresses as unsigned 32-bit numbers (the wire's big-endian value:
 * "192.168.0.1" ⇄ 0xc0a8_0001), plus the subnet arithmetic the receive
 * classifier needs (prefix masks, directed broadcast) and the address classes
 * that are never valid as a source (RFC 1122 §3.2.1.3).
 */

import { VmigError } from '../../core/index.js';
import { checkField } from './byte-access.js';

export const IPV4_ANY = 0;
export const IPV4_LIMITED_BROADCAST = 0xffff_ffff;

export function isIpv4Address(ip: number): boolean {
  return Number.isInteger(ip) && ip >= 0 && ip <= 0xffff_ffff;
}

/** @throws VmigError ERR_GUEST_BAD_ARGUMENT unless `ip` is a u32 */
export function checkIpv4(ip: number, what: string): void {
  checkField(ip, 0, 0xffff_ffff, what);
}

/** 224.0.0.0/4 (class D). */
export function isIpv4Multicast(ip: number): boolean {
  return ip >>> 28 === 0xe;
}

/** The netmask of a prefix length, as a u32 (prefix 0 → 0, 24 → 0xffffff00). */
export function ipv4PrefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffff_ffff << (32 - prefixLength)) >>> 0;
}

/** True when `a` and `b` share the first `prefixLength` bits. */
export function isSameIpv4Subnet(a: number, b: number, prefixLength: number): boolean {
  const mask = ipv4PrefixMask(prefixLength);
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/**
 * The subnet's directed broadcast, or -1 when the subnet has none: /31
 * point-to-point links (RFC 3021) and /32 hosts use every address.
 */
export function ipv4DirectedBroadcast(ip: number, prefixLength: number): number {
  if (prefixLength >= 31) return -1;
  return (ip | ~ipv4PrefixMask(prefixLength)) >>> 0;
}

/** Multicast, limited broadcast or 0.0.0.0: never a valid source of a datagram we answer. */
export function isMartianIpv4Source(ip: number): boolean {
  return ip === IPV4_ANY || ip === IPV4_LIMITED_BROADCAST || isIpv4Multicast(ip);
}

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/**
 * Parse dotted-quad text. Leading zeros are refused ("010" is octal to some
 * parsers and decimal to others), as Node's `net.isIPv4` does.
 * @throws VmigError ERR_GUEST_BAD_ADDRESS
 */
export function parseIpv4Address(text: string): number {
  const m = DOTTED_QUAD.exec(text);
  let ip = 0;
  if (m) {
    for (let i = 1; i <= 4; i++) {
      const octet = Number(m[i]);
      if (octet > 255) {
        ip = -1;
        break;
      }
      ip = ip * 256 + octet;
    }
  }
  if (!m || ip < 0) {
    throw new VmigError('ERR_GUEST_BAD_ADDRESS', `Invalid IPv4 address ${JSON.stringify(text)}: expected four decimal octets like 10.0.0.2`, {
      details: { text },
    });
  }
  return ip;
}

export function formatIpv4Address(ip: number): string {
  checkIpv4(ip, 'IPv4 address');
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

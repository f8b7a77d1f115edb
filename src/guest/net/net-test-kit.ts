/**
 * Test-only helpers for the net tests (imported by *.test.ts, never by the
 * stack): annotated hex listings, a view that throws on any access outside a
 * span, and a sample configuration.
 */

import type { InterfaceConfig } from './interface-config.js';

/** Bytes from an annotated listing: two-digit hex bytes, `|` separators, `# comments` to the end of the line. */
export function hex(listing: string): Uint8Array {
  const out: number[] = [];
  for (const m of listing.matchAll(/#[^\n]*|([0-9a-fA-F]{2})|(\|)|(\s+)|(.)/g)) {
    if (m[1] !== undefined) out.push(parseInt(m[1], 16));
    else if (m[4] !== undefined) throw new Error(`hex(): unexpected ${JSON.stringify(m[4])} in listing`);
  }
  return Uint8Array.from(out);
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An out-of-span access seen by a guarded view. */
export class OutOfSpanAccess extends Error {}

function isIndexKey(key: string | symbol): key is string {
  return typeof key === 'string' && key !== '' && String(Number(key)) === key;
}

/**
 * A proxy over `bytes` that throws OutOfSpanAccess on any element read
 * outside [start, end), and on any element write unless `writable` (then
 * writes must stay in the span too). Other properties and methods pass
 * through to the real array (methods bound to it), so code that uses
 * length/fill/copyWithin still works — only element accesses are policed,
 * which is how the packet code reads frames.
 */
export function guardedView(bytes: Uint8Array, start: number, end: number, writable = false): Uint8Array {
  return new Proxy(bytes, {
    get(target, key) {
      if (isIndexKey(key)) {
        const i = Number(key);
        if (!(i >= start && i < end)) throw new OutOfSpanAccess(`read of index ${key} outside [${start}, ${end})`);
        return target[i];
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(target, key, value) {
      if (isIndexKey(key)) {
        const i = Number(key);
        if (!writable || !(i >= start && i < end)) throw new OutOfSpanAccess(`write of index ${key} outside [${start}, ${end}) or to a read-only view`);
        target[i] = value as number;
        return true;
      }
      return Reflect.set(target, key, value, target);
    },
  });
}

/** A copy of `frame` inside a larger SharedArrayBuffer-backed array (like guest RAM), at `at`. */
export function inSharedRam(frame: Uint8Array, at = 100, slack = 100): { ram: Uint8Array; offset: number } {
  const ram = new Uint8Array(new SharedArrayBuffer(at + frame.length + slack));
  ram.fill(0xa5); // garbage around the frame, which must never be read
  ram.set(frame, at);
  return { ram, offset: at };
}

export const OUR_MAC = 0x5254_0012_3456; // 52:54:00:12:34:56
export const PEER_MAC = 0x0200_0000_0001; // 02:00:00:00:00:01
export const OUR_IP = 0x0a00_0002; // 10.0.0.2
export const PEER_IP = 0x0a00_0001; // 10.0.0.1
export const OUR_VLAN100_IP = 0xc0a8_6402; // 192.168.100.2
export const PEER_VLAN100_IP = 0xc0a8_6401; // 192.168.100.1

/** The NIC with 10.0.0.2/24 untagged, 192.168.100.2/24 on VLAN 100, and 10.0.0.2/24 again on VLAN 200. */
export function sampleConfig(flags = 0): InterfaceConfig {
  return {
    mac: OUR_MAC,
    flags,
    interfaces: [
      { vlanId: 0, ip: OUR_IP, prefixLength: 24 },
      { vlanId: 100, ip: OUR_VLAN100_IP, prefixLength: 24 },
      { vlanId: 200, ip: OUR_IP, prefixLength: 24 },
    ],
  };
}

/** bytes[at] ^= mask (a corruption step in tests). */
export function xorByte(bytes: Uint8Array, at: number, mask: number): void {
  bytes[at] = bytes[at]! ^ mask;
}

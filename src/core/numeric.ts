/**
 * Integer helpers: u16 ring-index arithmetic that wraps like the hardware does,
 * and guards for 64-bit values, which stay `bigint` until proven small enough
 * for a `number`.
 */

import { VmigError } from './errors.js';

export const U16_MASK = 0xffff;
export const U32_MAX = 0xffff_ffff;
export const U64_MAX = (1n << 64n) - 1n;

/** Reduce any integer to its u16 value (ring indices are free-running u16). */
export function wrapU16(value: number): number {
  return value & U16_MASK;
}

/** `a + b` modulo 2^16. */
export function addU16(a: number, b: number): number {
  return (a + b) & U16_MASK;
}

/** How far `to` is ahead of `from` on the u16 circle: `(to - from) mod 2^16`. */
export function distanceU16(from: number, to: number): number {
  return (to - from) & U16_MASK;
}

/** True when `value` is an integer in [0, 2^16). */
export function isU16(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= U16_MASK;
}

/** True when `value` is a bigint in [0, 2^64). */
export function isU64(value: bigint): boolean {
  return value >= 0n && value <= U64_MAX;
}

/**
 * Narrow a 64-bit value to a `number`, refusing anything above 2^53-1 (where a
 * `number` stops being exact).
 * @throws VmigError ERR_CORE_UNSAFE_INTEGER
 */
export function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VmigError('ERR_CORE_UNSAFE_INTEGER', `Cannot use ${what} as a number: 0x${value.toString(16)} is above 2^53-1`, {
      details: { what, value: `0x${value.toString(16)}` },
    });
  }
  return Number(value);
}

/**
 * Check that a bigint fits in `bits` bits, unsigned or two's-complement signed.
 * @throws RangeError when it does not (a caller bug, not input)
 */
export function assertBigIntFits(value: bigint, bits: 64, signed: boolean, what: string): void {
  const ok = signed ? value >= -(1n << BigInt(bits - 1)) && value < 1n << BigInt(bits - 1) : value >= 0n && value < 1n << BigInt(bits);
  if (!ok) throw new RangeError(`${what}: ${value} does not fit in ${signed ? 'i' : 'u'}${bits}`);
}

/** Format a bigint or number as "0x…" hex (lower case, no padding unless asked). */
export function hex(value: bigint | number, padDigits = 0): string {
  const v = typeof value === 'bigint' ? value : BigInt(value);
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString(16).padStart(padDigits, '0');
  return `${neg ? '-' : ''}0x${digits}`;
}

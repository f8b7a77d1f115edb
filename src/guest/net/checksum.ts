/**
 * The Internet checksum (RFC 1071): the ones' complement of the ones'
 * complement sum of 16-bit big-endian words.
 *
 * Sums are kept unfolded in a JS number (exact up to 2^53, i.e. far beyond a
 * 64 KiB datagram) and folded once at the end, so partial sums over several
 * spans (pseudo-header, header, payload) simply add. A span of odd length is
 * padded with a zero byte at its end; only the last span of a sum may be odd.
 *
 * Verifying: the folded sum over data that includes its checksum field is
 * 0xffff when the checksum is right (RFC 1071 §1).
 *
 * UDP/ICMP over IPv4 pseudo-header (RFC 768), summed before the datagram:
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |          source address           |
 *  +--------+--------+--------+--------+
 *  |        destination address        |
 *  +--------+--------+--------+--------+
 *  |  zero  |protocol|   UDP length    |
 *  +--------+--------+--------+--------+
 */

/** Add the 16-bit words of bytes[offset, offset+length) to `sum` (unfolded). */
export function onesComplementSum(bytes: Uint8Array, offset: number, length: number, sum = 0): number {
  const end = offset + length;
  const evenEnd = end - (length & 1);
  let i = offset;
  // Two words per step into two accumulators keeps the loop short; both stay < 2^32 for any 64 KiB span.
  let a = 0;
  let b = 0;
  for (; i + 3 < evenEnd; i += 4) {
    a += (bytes[i]! << 8) | bytes[i + 1]!;
    b += (bytes[i + 2]! << 8) | bytes[i + 3]!;
  }
  for (; i < evenEnd; i += 2) a += (bytes[i]! << 8) | bytes[i + 1]!;
  if (evenEnd !== end) a += bytes[end - 1]! << 8;
  return sum + a + b;
}

/** Fold an unfolded sum to 16 bits with end-around carry (not complemented). */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x1_0000) + Math.floor(sum / 0x1_0000);
  return sum;
}

/** The checksum to store: ~fold(sum) & 0xffff. */
export function finishChecksum(sum: number): number {
  return ~foldChecksum(sum) & 0xffff;
}

/** The Internet checksum of one span. */
export function internetChecksum(bytes: Uint8Array, offset: number, length: number): number {
  return finishChecksum(onesComplementSum(bytes, offset, length));
}

/** True when a span that contains its own checksum field sums to 0xffff. */
export function isChecksumValid(bytes: Uint8Array, offset: number, length: number, initialSum = 0): boolean {
  return foldChecksum(onesComplementSum(bytes, offset, length, initialSum)) === 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 768 / RFC 793 §3.1). */
export function ipv4PseudoHeaderSum(srcIp: number, dstIp: number, protocol: number, l4Length: number): number {
  return (srcIp >>> 16) + (srcIp & 0xffff) + (dstIp >>> 16) + (dstIp & 0xffff) + protocol + l4Length;
}

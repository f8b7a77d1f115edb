/**
 * Receive-side scaling for virtio-net (virtio 1.2 §5.1.6.5.7): the Toeplitz
 * hash over the packet's addresses and ports, as the driver's hash types
 * select, indexes the indirection table to pick the RX queue.
 *
 * The hash input is (src addr, dst addr[, src port, dst port]) in network
 * order, the same input Microsoft's RSS specification defines; its published
 * verification vectors are in rss.test.ts.
 */

/** Hash types (virtio 1.2 §5.1.6.4.3.1). */
export const VIRTIO_NET_RSS_HASH_TYPE_IPv4 = 1 << 0;
export const VIRTIO_NET_RSS_HASH_TYPE_TCPv4 = 1 << 1;
export const VIRTIO_NET_RSS_HASH_TYPE_UDPv4 = 1 << 2;
export const VIRTIO_NET_RSS_HASH_TYPE_IPv6 = 1 << 3;
export const VIRTIO_NET_RSS_HASH_TYPE_TCPv6 = 1 << 4;
export const VIRTIO_NET_RSS_HASH_TYPE_UDPv6 = 1 << 5;

/** Toeplitz hash of `input` under `key` (key must be ≥ input length + 4 bytes). */
export function toeplitzHash(key: Uint8Array, input: Uint8Array): number {
  let hash = 0;
  // The 32-bit window of the key that lines up with the current input bit.
  let window = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    const next = key[i + 4] ?? 0;
    for (let b = 7; b >= 0; b--) {
      if (byte & (1 << b)) hash = (hash ^ window) >>> 0;
      window = ((window << 1) | ((next >> b) & 1)) >>> 0;
    }
  }
  return hash >>> 0;
}

export interface RssConfig {
  hashTypes: number;
  indirectionTable: number[];
  defaultQueue: number;
  key: Uint8Array;
}

/**
 * The RX queue pair for a frame (Ethernet at `at`, VLAN tag allowed), and the
 * hash used; frames the hash types do not cover go to the default queue.
 */
export function rssSelectQueue(cfg: RssConfig, frame: Uint8Array, at = 0): { queue: number; hash: number | undefined } {
  let l3 = at + 14;
  let ethertype = ((frame[at + 12] ?? 0) << 8) | (frame[at + 13] ?? 0);
  if (ethertype === 0x8100) {
    ethertype = ((frame[at + 16] ?? 0) << 8) | (frame[at + 17] ?? 0);
    l3 += 4;
  }
  const input = ethertype === 0x0800 ? ipv4HashInput(cfg.hashTypes, frame, l3) : undefined;
  if (!input || cfg.indirectionTable.length === 0) return { queue: cfg.defaultQueue, hash: undefined };
  const hash = toeplitzHash(cfg.key, input);
  // The table length is a power of two: the low bits index it.
  return { queue: cfg.indirectionTable[hash & (cfg.indirectionTable.length - 1)]!, hash };
}

function ipv4HashInput(types: number, f: Uint8Array, l3: number): Uint8Array | undefined {
  if (f.length < l3 + 20 || f[l3]! >> 4 !== 4) return undefined;
  const ihl = (f[l3]! & 0x0f) * 4;
  const proto = f[l3 + 9]!;
  const fragmented = (((f[l3 + 6]! << 8) | f[l3 + 7]!) & 0x3fff) !== 0;
  const withPorts = !fragmented && f.length >= l3 + ihl + 4 && ((proto === 6 && types & VIRTIO_NET_RSS_HASH_TYPE_TCPv4) || (proto === 17 && types & VIRTIO_NET_RSS_HASH_TYPE_UDPv4));
  if (withPorts) {
    const input = new Uint8Array(12);
    input.set(f.subarray(l3 + 12, l3 + 20), 0);
    input.set(f.subarray(l3 + ihl, l3 + ihl + 4), 8);
    return input;
  }
  if (types & VIRTIO_NET_RSS_HASH_TYPE_IPv4) return f.slice(l3 + 12, l3 + 20);
  return undefined;
}

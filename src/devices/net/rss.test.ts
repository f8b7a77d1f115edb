/** Toeplitz/RSS against the verification vectors of Microsoft's RSS specification. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VIRTIO_NET_RSS_HASH_TYPE_IPv4, VIRTIO_NET_RSS_HASH_TYPE_UDPv4, rssSelectQueue, toeplitzHash } from './rss.js';

const KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe,
  0xac, 0x01, 0xfa,
]);

function input(src: number[], dst: number[], sport?: number, dport?: number): Uint8Array {
  const b = [...src, ...dst];
  if (sport !== undefined && dport !== undefined) b.push(sport >> 8, sport & 0xff, dport >> 8, dport & 0xff);
  return Uint8Array.from(b);
}

describe('Toeplitz hash (RSS verification suite, IPv4)', () => {
  for (const [src, sport, dst, dport, ipHash, l4Hash] of [
    [[66, 9, 149, 187], 2794, [161, 142, 100, 80], 1766, 0x323e8fc2, 0x51ccc178],
    [[199, 92, 111, 2], 14230, [65, 69, 140, 83], 4739, 0xd718262a, 0xc626b0ea],
    [[24, 19, 198, 95], 12898, [12, 22, 207, 184], 38024, 0xd2d0a5de, 0x5c2b394a],
    [[38, 27, 205, 30], 48228, [209, 142, 163, 6], 2217, 0x82989176, 0xafc7327f],
    [[153, 39, 163, 191], 44251, [202, 188, 127, 2], 1303, 0x5d1809c5, 0x10e828a2],
  ] as const) {
    test(`${src.join('.')}:${sport} → ${dst.join('.')}:${dport}`, () => {
      assert.equal(toeplitzHash(KEY, input([...src], [...dst])), ipHash);
      assert.equal(toeplitzHash(KEY, input([...src], [...dst], sport, dport)), l4Hash);
    });
  }
});

function udpFrame(src: number[], dst: number[], sport: number, dport: number, vlan?: number): Uint8Array {
  const eth = [0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2];
  const tag = vlan === undefined ? [] : [0x81, 0x00, vlan >> 8, vlan & 0xff];
  const ip = [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, ...src, ...dst];
  const udp = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 8, 0, 0];
  return Uint8Array.from([...eth, ...tag, 0x08, 0x00, ...ip, ...udp]);
}

describe('RSS queue selection', () => {
  const cfg = { hashTypes: VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_UDPv4, indirectionTable: [0, 1, 2, 3, 0, 1, 2, 3], defaultQueue: 0, key: KEY };

  test('a UDP/IPv4 frame hashes over addresses and ports and indexes the table by the low bits', () => {
    const f = udpFrame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
    const { queue, hash } = rssSelectQueue({ ...cfg, hashTypes: VIRTIO_NET_RSS_HASH_TYPE_UDPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv4 }, f);
    // The UDP 4-tuple input is the same as the TCP one in the specification's vectors.
    assert.equal(hash, 0x51ccc178);
    assert.equal(queue, cfg.indirectionTable[0x51ccc178 & 7]);
  });

  test('without the UDP hash type the addresses alone are hashed', () => {
    const f = udpFrame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
    assert.equal(rssSelectQueue({ ...cfg, hashTypes: VIRTIO_NET_RSS_HASH_TYPE_IPv4 }, f).hash, 0x323e8fc2);
  });

  test('VLAN-tagged frames hash the inner IPv4 packet', () => {
    const f = udpFrame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766, 100);
    assert.equal(rssSelectQueue(cfg, f).hash, 0x51ccc178);
  });

  test('frames no hash type covers (ARP) go to the default queue', () => {
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert.deepEqual(rssSelectQueue({ ...cfg, defaultQueue: 2 }, arp), { queue: 2, hash: undefined });
  });

  test('many flows spread over every queue the table names', () => {
    const seen = new Set<number>();
    for (let port = 1000; port < 1064; port++) seen.add(rssSelectQueue(cfg, udpFrame([10, 0, 0, 1], [10, 0, 0, 2], port, 7777)).queue);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
  });
});

/**
 * Control-queue commands change what arrives (QEMU receive_filter
 * semantics), MQ VQ_PAIRS_SET attaches/detaches backend queues, RSS_CONFIG
 * spreads flows over the pairs as the indirection table says, and
 * query-rx-filter reports it all in QEMU's shape.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NetHarness, concat, ethFrame, le16, le32, mac, udpFrame, withHeader } from '../../../test/support/virtio-net-harness.js';
import { rssSelectQueue } from './rss.js';
import {
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_HASH_CONFIG,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_ALLMULTI,
  VIRTIO_NET_CTRL_RX_ALLUNI,
  VIRTIO_NET_CTRL_RX_NOBCAST,
  VIRTIO_NET_CTRL_RX_NOMULTI,
  VIRTIO_NET_CTRL_RX_NOUNI,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_CTRL_VLAN_DEL,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_OK,
} from './spec-constants.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const OURS = '52:54:00:12:34:56';
const OTHER = '02:00:00:00:00:99';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const MCAST = '01:00:5e:00:00:fb';
const MCAST2 = '33:33:00:00:00:01';

/** Which of these destination MACs (optionally VLAN-tagged) reach the guest now. */
async function arrives(h: NetHarness, frames: { dst: string; vlan?: number }[]): Promise<boolean[]> {
  h.postRx(0, frames.length + 2);
  frames.forEach((f, i) => h.backend.inject(0, withHeader(ethFrame({ ...f, payload: new Uint8Array(46).fill(i) }))));
  await h.settle();
  const got = new Set(h.received(0).map((r) => r.frame[r.frame[12] === 0x81 ? 18 : 14]));
  return frames.map((_, i) => got.has(i));
}

function rx(h: NetHarness, cmd: number, on: number): number {
  return h.ctrl(VIRTIO_NET_CTRL_RX, cmd, Uint8Array.of(on));
}

function macTable(uni: string[], multi: string[]): Uint8Array {
  return concat([le32(uni.length), ...uni.map(mac), le32(multi.length), ...multi.map(mac)]);
}

describe('receive filter through the control queue', () => {
  test('after reset the device is promiscuous; PROMISC off leaves our MAC, broadcast, and no multicast', async () => {
    const h = new NetHarness();
    h.start();
    assert.deepEqual(await arrives(h, [{ dst: OURS }, { dst: OTHER }, { dst: BCAST }, { dst: MCAST }]), [true, true, true, true]);
    assert.equal(rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
    assert.deepEqual(await arrives(h, [{ dst: OURS }, { dst: OTHER }, { dst: BCAST }, { dst: MCAST }]), [true, false, true, false]);
    assert.equal(h.device.stats[0]!.rxDropped.unicast, 1);
    assert.equal(h.device.stats[0]!.rxDropped.multicast, 1);
  });

  test('ALLMULTI, NOMULTI, ALLUNI, NOUNI, NOBCAST each change what arrives', async () => {
    const h = new NetHarness();
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    rx(h, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
    assert.deepEqual(await arrives(h, [{ dst: MCAST }, { dst: MCAST2 }]), [true, true]);
    rx(h, VIRTIO_NET_CTRL_RX_NOMULTI, 1);
    assert.deepEqual(await arrives(h, [{ dst: MCAST }, { dst: BCAST }]), [false, true], 'NOMULTI wins over ALLMULTI, broadcast still passes');
    rx(h, VIRTIO_NET_CTRL_RX_NOBCAST, 1);
    assert.deepEqual(await arrives(h, [{ dst: BCAST }]), [false]);
    rx(h, VIRTIO_NET_CTRL_RX_ALLUNI, 1);
    assert.deepEqual(await arrives(h, [{ dst: OTHER }, { dst: OURS }]), [true, true]);
    rx(h, VIRTIO_NET_CTRL_RX_NOUNI, 1);
    assert.deepEqual(await arrives(h, [{ dst: OTHER }, { dst: OURS }]), [false, false], 'NOUNI drops even our own MAC');
    assert.equal(rx(h, 9, 1), VIRTIO_NET_ERR, 'unknown RX command');
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC), VIRTIO_NET_ERR, 'missing the on byte');
  });

  test('MAC_TABLE_SET: listed unicast and multicast addresses pass; overflow passes every address of that kind', async () => {
    const h = new NetHarness();
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, macTable([OTHER], [MCAST])), VIRTIO_NET_OK);
    assert.deepEqual(await arrives(h, [{ dst: OTHER }, { dst: '02:00:00:00:00:98' }, { dst: MCAST }, { dst: MCAST2 }]), [true, false, true, false]);
    const many = Array.from({ length: 65 }, (_, i) => `01:00:5e:00:01:${i.toString(16).padStart(2, '0')}`);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, macTable([OTHER], many)), VIRTIO_NET_OK);
    assert.equal(h.device.net.multiOverflow, 1);
    assert.equal(h.device.net.inUse, 1, 'the overflowing multicast list is not stored');
    assert.deepEqual(await arrives(h, [{ dst: MCAST2 }, { dst: OTHER }]), [true, true]);
  });

  test('a malformed MAC table is refused and leaves the table as it was', () => {
    const h = new NetHarness();
    h.start();
    h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, macTable([OTHER], [MCAST]));
    const before = h.device.queryRxFilter();
    const good = macTable([OTHER], [MCAST]);
    for (const bad of [good.subarray(0, 3), good.subarray(0, good.length - 1), concat([good, Uint8Array.of(0)]), concat([le32(2), mac(OTHER), le32(0)])]) {
      assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, bad), VIRTIO_NET_ERR);
    }
    assert.deepEqual(h.device.queryRxFilter(), before);
  });

  test('MAC_ADDR_SET changes the address unicast filtering accepts', async () => {
    const h = new NetHarness();
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac(OTHER)), VIRTIO_NET_OK);
    assert.deepEqual(await arrives(h, [{ dst: OTHER }, { dst: OURS }]), [true, false]);
    assert.equal(h.config(0, 1), 0x02, 'config space shows the new MAC');
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, new Uint8Array(5)), VIRTIO_NET_ERR);
  });

  test('VLAN filter: with CTRL_VLAN only added VLANs pass; without it every VLAN passes', async () => {
    const h = new NetHarness();
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    assert.deepEqual(await arrives(h, [{ dst: OURS, vlan: 100 }, { dst: OURS }]), [false, true]);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(100)), VIRTIO_NET_OK);
    assert.deepEqual(await arrives(h, [{ dst: OURS, vlan: 100 }, { dst: OURS, vlan: 101 }]), [true, false]);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, le16(100)), VIRTIO_NET_OK);
    assert.deepEqual(await arrives(h, [{ dst: OURS, vlan: 100 }]), [false]);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(4096)), VIRTIO_NET_ERR);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_VLAN, 7, le16(5)), VIRTIO_NET_ERR);
    const n = new NetHarness();
    n.start(n.offeredFeatures() & ~bit(VIRTIO_NET_F_CTRL_VLAN));
    rx(n, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    assert.deepEqual(await arrives(n, [{ dst: OURS, vlan: 100 }, { dst: OURS, vlan: 4095 }]), [true, true]);
  });

  test('unknown classes are refused; a command without an ack byte makes the device need a reset', () => {
    const h = new NetHarness();
    h.start();
    assert.equal(h.ctrl(77, 0), VIRTIO_NET_ERR);
    const d = h.driver(h.ctrlIndex);
    const g = d.alloc(2);
    d.addChain([{ gpa: g, len: 2, writable: false }]);
    d.publish();
    h.kick(h.ctrlIndex);
    assert.ok(h.device.broken);
    assert.match(h.errors[0]!.message, /ctrl missing headers/);
  });
});

describe('query-rx-filter', () => {
  test('QEMU shape and order: prepended lists (reversed), vlan state, broadcast-allowed reports nobcast', () => {
    const h = new NetHarness({ name: 'net0' });
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    rx(h, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
    rx(h, VIRTIO_NET_CTRL_RX_NOBCAST, 1);
    h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, macTable(['02:00:00:00:00:01', '02:00:00:00:00:02'], [MCAST, MCAST2]));
    h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(5));
    h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(300));
    const info = h.device.queryRxFilter();
    assert.deepEqual(Object.keys(info), ['name', 'promiscuous', 'multicast', 'unicast', 'vlan', 'broadcast-allowed', 'multicast-overflow', 'unicast-overflow', 'main-mac', 'vlan-table', 'unicast-table', 'multicast-table']);
    assert.deepEqual(info, {
      name: 'net0',
      promiscuous: false,
      multicast: 'all',
      unicast: 'normal',
      vlan: 'normal',
      'broadcast-allowed': true,
      'multicast-overflow': false,
      'unicast-overflow': false,
      'main-mac': OURS,
      'vlan-table': [300, 5],
      'unicast-table': ['02:00:00:00:00:02', '02:00:00:00:00:01'],
      'multicast-table': [MCAST2, MCAST],
    });
    const n = new NetHarness();
    n.start(n.offeredFeatures() & ~bit(VIRTIO_NET_F_CTRL_VLAN));
    assert.equal(n.device.queryRxFilter().vlan, 'all');
  });

  test('NIC_RX_FILTER_CHANGED fires once until query-rx-filter re-arms it', () => {
    const h = new NetHarness({ name: 'net0' });
    h.start();
    rx(h, VIRTIO_NET_CTRL_RX_PROMISC, 0);
    rx(h, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
    assert.deepEqual(h.filterEvents, ['net0']);
    h.device.queryRxFilter();
    h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(1));
    assert.deepEqual(h.filterEvents, ['net0', 'net0']);
  });
});

describe('multiqueue', () => {
  test('VQ_PAIRS_SET attaches and detaches backend queues within 1..max', async () => {
    const h = new NetHarness({ loopback: { queuePairs: 4 }, properties: { mq: true } });
    h.start();
    assert.deepEqual(h.backend.queueEnabled, [true, false, false, false], 'after negotiation only pair 0 is attached (curr_queue_pairs 1)');
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(3)), VIRTIO_NET_OK);
    assert.deepEqual(h.backend.queueEnabled, [true, true, true, false]);
    assert.equal(h.device.net.currQueuePairs, 3);
    for (const bad of [0, 5, 0x8001]) assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(bad)), VIRTIO_NET_ERR, `${bad} pairs`);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, Uint8Array.of(2)), VIRTIO_NET_ERR, 'short');
    assert.equal(h.device.net.currQueuePairs, 3);
    // Frames on backend queue 2 reach rx2; queue 3 is not read.
    for (let p = 0; p < 4; p++) h.postRx(p, 2);
    h.backend.inject(2, withHeader(ethFrame({ dst: OURS })));
    h.backend.inject(3, withHeader(ethFrame({ dst: OURS })));
    await h.settle();
    assert.equal(h.received(2).length, 1);
    assert.equal(h.received(3).length, 0);
    assert.equal(h.backend.reading[3], false);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(1)), VIRTIO_NET_OK);
    assert.deepEqual(h.backend.queueEnabled, [true, false, false, false]);
    assert.equal(h.backend.reading[2], false);
  });

  test('TX on each pair goes out on that pair\'s backend queue', async () => {
    const h = new NetHarness({ loopback: { queuePairs: 2 }, properties: { mq: true } });
    h.start();
    h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(2));
    h.addTx(1, withHeader(ethFrame({ dst: OTHER })));
    h.addTx(0, withHeader(ethFrame({ dst: OTHER })));
    await h.settle();
    assert.deepEqual(h.backend.sent.map((s) => s.queue).sort(), [0, 1]);
  });

  test('VQ_PAIRS_SET is refused without MQ negotiated', () => {
    const h = new NetHarness({ loopback: { queuePairs: 2 }, properties: { mq: true } });
    h.start(h.offeredFeatures() & ~bit(VIRTIO_NET_F_MQ));
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(2)), VIRTIO_NET_ERR);
  });
});

const KEY = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
const HASH_IPV4_UDP = 0x1 | 0x4;

function rssCommand(o: { hashTypes: number; table: number[]; unclassified: number; maxTxVq: number; key: Uint8Array }): Uint8Array {
  return concat([le32(o.hashTypes), le16(o.table.length - 1), le16(o.unclassified), ...o.table.map(le16), le16(o.maxTxVq), Uint8Array.of(o.key.length), o.key]);
}

describe('RSS', () => {
  const setup = () => {
    const h = new NetHarness({ loopback: { queuePairs: 4 }, properties: { mq: true, rss: true } });
    h.start();
    for (let p = 0; p < 4; p++) h.postRx(p, 64);
    return h;
  };

  test('flows spread over the queues exactly as the indirection table says, whatever queue they arrived on', async () => {
    const h = setup();
    const table = [0, 1, 2, 3, 3, 2, 1, 0];
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand({ hashTypes: HASH_IPV4_UDP, table, unclassified: 2, maxTxVq: 4, key: KEY })), VIRTIO_NET_OK);
    assert.equal(h.device.net.currQueuePairs, 4);
    assert.deepEqual(h.backend.queueEnabled, [true, true, true, true]);
    const expected = [0, 0, 0, 0];
    for (let port = 1000; port < 1040; port++) {
      const f = udpFrame({ dst: OURS, srcIp: [10, 0, 0, 1], dstIp: [10, 0, 0, 2], sport: port, dport: 7777 });
      expected[rssSelectQueue({ hashTypes: HASH_IPV4_UDP, indirectionTable: table, defaultQueue: 2, key: KEY }, f).queue]!++;
      h.backend.inject(0, withHeader(f)); // all arrive on backend queue 0
    }
    h.backend.inject(1, withHeader(ethFrame({ dst: OURS, type: 0x0806 }))); // ARP: unclassified
    await h.settle(30);
    expected[2]!++;
    const got = [0, 1, 2, 3].map((p) => h.received(p).length);
    assert.deepEqual(got, expected);
    assert.ok(got.filter((n) => n > 0).length >= 3, `spread: ${got}`);
  });

  test('a malformed RSS_CONFIG is refused and disables RSS (QEMU); key size 0 without hash types just disables it', () => {
    const h = setup();
    const ok = { hashTypes: HASH_IPV4_UDP, table: [0, 1], unclassified: 0, maxTxVq: 2, key: KEY };
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand(ok)), VIRTIO_NET_OK);
    assert.ok(h.device.net.rss.enabled);
    for (const bad of [
      rssCommand({ ...ok, table: [0, 1, 2] }), // not a power of two
      rssCommand({ ...ok, unclassified: 4 }),
      rssCommand({ ...ok, maxTxVq: 0 }),
      rssCommand({ ...ok, maxTxVq: 5 }),
      rssCommand({ ...ok, key: new Uint8Array(41) }),
      rssCommand({ ...ok, key: new Uint8Array(0) }), // hash types without a key
      rssCommand(ok).subarray(0, 10),
    ]) {
      assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, bad), VIRTIO_NET_ERR);
      assert.equal(h.device.net.rss.enabled, false);
      h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand(ok));
    }
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand({ ...ok, hashTypes: 0, key: new Uint8Array(0), maxTxVq: 3 })), VIRTIO_NET_OK);
    assert.equal(h.device.net.rss.enabled, false);
    assert.equal(h.device.net.currQueuePairs, 3);
    // HASH_CONFIG needs HASH_REPORT (never offered): refused, and like every MQ command it switches RSS off.
    h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand(ok));
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, rssCommand(ok)), VIRTIO_NET_ERR);
    assert.equal(h.device.net.rss.enabled, false);
  });

  test('VQ_PAIRS_SET switches RSS off (QEMU disables RSS on any MQ command)', () => {
    const h = setup();
    h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rssCommand({ hashTypes: HASH_IPV4_UDP, table: [0, 1], unclassified: 0, maxTxVq: 2, key: KEY }));
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(2)), VIRTIO_NET_OK);
    assert.equal(h.device.net.rss.enabled, false);
  });
});

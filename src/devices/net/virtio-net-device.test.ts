/**
 * VirtioNetDevice driven like a guest driver drives it (test/support
 * harness: MMIO through the transport, rings in guest memory, a loopback
 * backend): feature negotiation and queue layout, config space, TX and RX,
 * mergeable buffers, holding frames until the guest posts buffers, link
 * status, announce, offloads, reset.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { HDR, NetHarness, ethFrame, withHeader } from '../../../test/support/virtio-net-harness.js';
import { VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from '../../virtio/index.js';
import {
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_ANNOUNCE_ACK,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_ANNOUNCE,
  VIRTIO_NET_S_LINK_UP,
} from './spec-constants.js';
import { ETH_P_RARP, RARP_FRAME_LEN } from './announce.js';
import { le64 } from '../../../test/support/virtio-net-harness.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const GUEST_MAC = '52:54:00:12:34:56';
const ISR_CONFIG = 2;

describe('feature negotiation, queue layout and config space', () => {
  test('offers MAC and VERSION_1 always, QEMU defaults otherwise (mq/rss off)', () => {
    const h = new NetHarness();
    const f = h.offeredFeatures();
    for (const b of [VIRTIO_NET_F_MAC, VIRTIO_F_VERSION_1, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC]) assert.ok(f & bit(b), `bit ${b}`);
    assert.equal(f & bit(VIRTIO_NET_F_MQ), 0n);
    assert.equal(f & bit(VIRTIO_NET_F_RSS), 0n);
  });

  test('a backend without UFO takes the UFO features away, one without vnet headers every offload', () => {
    const noUfo = new NetHarness({ loopback: { hasUfo: false } }).offeredFeatures();
    assert.equal(noUfo & (bit(VIRTIO_NET_F_GUEST_UFO) | bit(VIRTIO_NET_F_HOST_UFO)), 0n);
    const noHdr = new NetHarness({ loopback: { hasVnetHdr: false } }).offeredFeatures();
    assert.equal(noHdr & (bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4)), 0n);
  });

  test('realize creates 2 × max + 1 queues; without MQ negotiation the layout shrinks to 3 with ctrl at 2 (size 64)', () => {
    const h = new NetHarness({ loopback: { queuePairs: 4 }, properties: { mq: true } });
    assert.equal(h.common(0x12, 2), 9);
    assert.ok(h.negotiate(h.offeredFeatures() & ~bit(VIRTIO_NET_F_MQ)));
    assert.equal(h.common(0x12, 2), 3);
    h.setCommon(0x16, 2, 2);
    assert.equal(h.common(0x18, 2), 64, 'ctrl queue size');
    h.setCommon(0x16, 2, 1);
    assert.equal(h.common(0x18, 2), 256, 'tx0');
    assert.ok(h.negotiate());
    assert.equal(h.common(0x12, 2), 9, 'MQ negotiated: max pairs again');
    h.setCommon(0x16, 2, 8);
    assert.equal(h.common(0x18, 2), 64);
  });

  test('config space: mac, status, max_virtqueue_pairs (le16), RSS fields; 10 bytes with MQ, 24 with RSS', () => {
    const h = new NetHarness({ loopback: { queuePairs: 3 }, properties: { mq: true, mac: '02:11:22:33:44:55' } });
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => h.config(i, 1)), [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    assert.equal(h.config(6, 2), VIRTIO_NET_S_LINK_UP);
    assert.equal(h.config(8, 2), 3);
    assert.equal(h.config(10, 2), 0xffff, 'beyond the 10-byte config: all ones');
    const r = new NetHarness({ loopback: { queuePairs: 2 }, properties: { rss: true } });
    assert.equal(r.config(17, 1), 40, 'rss_max_key_size');
    assert.equal(r.config(18, 2), 128, 'rss_max_indirection_table_length');
    assert.equal(r.config(20, 4), 0x1ff, 'supported_hash_types');
    assert.equal(r.config(24, 1), 0xff);
  });

  test('the MAC in config space is read-only under VERSION_1', () => {
    const h = new NetHarness();
    h.start();
    h.transport.write(0x2000, 1, 0x99n);
    assert.equal(h.config(0, 1), 0x52);
  });

  test('bad properties are refused with a clear error', () => {
    assert.throws(() => new NetHarness({ properties: { mac: 'nope' } }), /ERR_NET_BAD_PROPERTY|not a MAC/);
    assert.throws(() => new NetHarness({ properties: { rx_queue_size: 300 } }), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_BAD_PROPERTY');
    assert.throws(() => new NetHarness({ properties: { bogus: true } as never }), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_BAD_PROPERTY');
    assert.throws(() => new NetHarness({ maxQueuePairs: 2 }), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_BAD_PROPERTY');
  });
});

describe('TX', () => {
  test('a frame reaches the backend with its header, the chain completes with length 0 and interrupts tx0', async () => {
    const h = new NetHarness();
    h.start();
    const header = Uint8Array.of(1, 0, 0, 0, 0, 0, 14, 0, 6, 0, 0, 0);
    const frame = ethFrame({ dst: '02:00:00:00:00:02', src: GUEST_MAC });
    const head = h.addTx(0, withHeader(frame, header), { split: [HDR, 20, frame.length - 20] });
    await h.settle();
    assert.equal(h.backend.sent.length, 1);
    assert.deepEqual(h.backend.sent[0]!.bytes, withHeader(frame, header));
    assert.deepEqual(h.driver(1).popUsed(), [{ id: head, len: 0 }]);
    assert.ok(h.raised.includes(2), 'tx0 uses vector 2');
    assert.equal(h.device.stats[0]!.txPackets, 1);
    assert.equal(h.device.stats[0]!.txBytes, frame.length);
  });

  test('indirect chains work, and many frames go out in bursts without starving the loop', async () => {
    const h = new NetHarness({ txBurst: 4 });
    h.start();
    for (let i = 0; i < 10; i++) h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02', payload: new Uint8Array(46).fill(i) })), { indirect: i % 2 === 0 });
    await h.settle(20);
    assert.equal(h.backend.sent.length, 10);
    assert.deepEqual(h.backend.sent.map((s) => s.bytes[HDR + 14]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a full backend holds TX (chain given back, nothing lost) until it drains', async () => {
    const h = new NetHarness();
    h.start();
    h.backend.setTxFull(0, true);
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02' })));
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:03' })));
    await h.settle();
    assert.equal(h.backend.sent.length, 0);
    assert.deepEqual(h.device.inFlight(), [0, 0, 0], 'no chain popped while the backend is full');
    h.backend.setTxFull(0, false);
    await h.settle();
    assert.equal(h.backend.sent.length, 2);
    assert.equal(h.driver(1).popUsed().length, 2);
  });

  test('a TX chain without a complete header is a guest error: NEEDS_RESET, no throw', async () => {
    const h = new NetHarness();
    h.start();
    h.addTx(0, new Uint8Array(8));
    await h.settle();
    assert.ok(h.device.broken);
    assert.ok(h.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert.equal(h.errors[0]?.message.includes('header incorrect'), true);
    assert.deepEqual(h.device.inFlight(), [0, 0, 0]);
  });
});

describe('RX', () => {
  test('a frame for our MAC lands in a posted buffer with num_buffers 1, interrupting rx0', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 4);
    const frame = ethFrame({ dst: GUEST_MAC });
    h.backend.inject(0, withHeader(frame));
    await h.settle();
    const got = h.received(0);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.frame, frame);
    assert.equal(got[0]!.numBuffers, 1);
    assert.ok(h.raised.includes(1), 'rx0 uses vector 1');
    assert.equal(h.device.stats[0]!.rxPackets, 1);
  });

  test('without buffers the frame is held and the backend paused; posting buffers delivers it (no loss)', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 0);
    for (let i = 0; i < 3; i++) h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC, payload: new Uint8Array(46).fill(i) })));
    await h.settle();
    assert.equal(h.backend.reading[0], false, 'paused while the guest has no buffers');
    assert.equal(h.backend.pending(0), 2, 'one frame held by the device, two still in the backend');
    h.postRx(0, 8);
    await h.settle();
    const got = h.received(0);
    assert.deepEqual(got.map((g) => g.frame[14]), [0, 1, 2]);
    assert.equal(h.backend.reading[0], true);
    assert.ok(h.device.stats[0]!.rxHeld >= 1);
  });

  test('mergeable RX buffers: a 5000-byte frame spans three 2 KiB buffers, num_buffers = 3', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 4, 2048);
    const frame = ethFrame({ dst: GUEST_MAC, payload: new Uint8Array(5000 - 14).map((_, i) => i & 0xff) });
    h.backend.inject(0, withHeader(frame));
    await h.settle();
    const got = h.received(0);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.numBuffers, 3);
    assert.deepEqual(got[0]!.frame, frame);
  });

  test('without MRG_RXBUF a frame larger than the buffer is dropped as too big, the next one delivered', async () => {
    const h = new NetHarness();
    h.start(h.offeredFeatures() & ~bit(VIRTIO_NET_F_MRG_RXBUF));
    h.postRx(0, 2, 1024);
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC, payload: new Uint8Array(2000) })));
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.received(0).length, 1);
    assert.equal(h.device.stats[0]!.rxDropped['too-big'], 1);
  });

  test('nothing is received before DRIVER_OK', async () => {
    const h = new NetHarness();
    assert.ok(h.negotiate());
    h.setupQueues();
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.backend.reading[0], false);
    assert.equal(h.backend.pending(0), 1);
    h.driverOk();
    h.postRx(0, 2);
    await h.settle();
    assert.equal(h.received(0).length, 1);
  });

  test('with a loopback wire, what the guest sends comes back (TX → RX)', async () => {
    const h = new NetHarness({ loopback: { echo: true } });
    h.start();
    h.postRx(0, 4);
    const frame = ethFrame({ dst: GUEST_MAC, src: '02:00:00:00:00:09' });
    h.addTx(0, withHeader(frame));
    await h.settle();
    assert.deepEqual(h.received(0).map((r) => r.frame), [frame]);
  });
});

describe('link status, announce, offloads', () => {
  test('link down clears LINK_UP with a config interrupt; frames are dropped both ways; link up restores', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 4);
    h.raised.length = 0;
    h.device.setLinkUp(false);
    assert.equal(h.config(6, 2) & VIRTIO_NET_S_LINK_UP, 0);
    assert.deepEqual(h.raised, [0], 'config vector');
    assert.ok(h.transport.isr & ISR_CONFIG);
    assert.equal(h.backend.linkUp, false);
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02' })));
    await h.settle();
    assert.equal(h.received(0).length, 0);
    assert.equal(h.backend.sent.length, 0);
    assert.equal(h.driver(1).popUsed().length, 1, 'the TX chain completes (dropped)');
    assert.equal(h.device.stats[0]!.rxDropped['link-down'], 1);
    h.raised.length = 0;
    h.device.setLinkUp(true);
    assert.equal(h.config(6, 2) & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
    assert.deepEqual(h.raised, [0]);
    h.device.setLinkUp(true);
    assert.deepEqual(h.raised, [0], 'no interrupt when nothing changed');
  });

  test('announce: RARP through the backend, ANNOUNCE + config interrupt, ANNOUNCE_ACK clears it (and a second ACK fails)', () => {
    const h = new NetHarness({ properties: { mac: '02:aa:bb:cc:dd:ee' } });
    h.start();
    h.raised.length = 0;
    const r = h.device.announceSelf();
    assert.deepEqual(r, { rarp: true, guest: true });
    const rarp = h.backend.sent[0]!.bytes;
    assert.equal(rarp.length, HDR + RARP_FRAME_LEN);
    assert.deepEqual([...rarp.subarray(HDR, HDR + 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...rarp.subarray(HDR + 6, HDR + 12)], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    assert.equal((rarp[HDR + 12]! << 8) | rarp[HDR + 13]!, ETH_P_RARP);
    assert.equal(rarp[HDR + 21], 3, 'reverse request');
    assert.ok(h.config(6, 2) & VIRTIO_NET_S_ANNOUNCE);
    assert.deepEqual(h.raised, [0]);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK), VIRTIO_NET_OK);
    assert.equal(h.config(6, 2) & VIRTIO_NET_S_ANNOUNCE, 0);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK), VIRTIO_NET_ERR);
  });

  test('the guest is not asked to announce without GUEST_ANNOUNCE (the RARP still goes)', () => {
    const h = new NetHarness();
    h.start(h.offeredFeatures() & ~bit(VIRTIO_NET_F_GUEST_ANNOUNCE));
    assert.deepEqual(h.device.announceSelf(), { rarp: true, guest: false });
    assert.equal(h.config(6, 2) & VIRTIO_NET_S_ANNOUNCE, 0);
  });

  test('negotiated guest offloads reach the backend; GUEST_OFFLOADS_SET changes them within what was negotiated', () => {
    const h = new NetHarness();
    h.start();
    assert.deepEqual(h.backend.offloads, { csum: true, tso4: true, tso6: true, ecn: true, ufo: true });
    assert.ok(h.backend.log.includes('vnet_hdr_len 12'));
    const csumOnly = bit(VIRTIO_NET_F_GUEST_CSUM);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(csumOnly)), VIRTIO_NET_OK);
    assert.deepEqual(h.backend.offloads, { csum: true, tso4: false, tso6: false, ecn: false, ufo: false });
    assert.equal(h.device.net.currGuestOffloads, csumOnly);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(bit(VIRTIO_NET_F_MRG_RXBUF))), VIRTIO_NET_ERR, 'not an offload');
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, new Uint8Array(7)), VIRTIO_NET_ERR, 'short');
    assert.equal(h.device.net.currGuestOffloads, csumOnly, 'refused commands change nothing');
  });

  test('GUEST_OFFLOADS_SET is refused when CTRL_GUEST_OFFLOADS was not negotiated, or beyond negotiated offloads', () => {
    const h = new NetHarness();
    h.start(h.offeredFeatures() & ~bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(0n)), VIRTIO_NET_ERR);
    const g = new NetHarness();
    g.start(g.offeredFeatures() & ~bit(VIRTIO_NET_F_GUEST_TSO4));
    assert.equal(g.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(bit(VIRTIO_NET_F_GUEST_TSO4))), VIRTIO_NET_ERR);
  });
});

describe('reset', () => {
  test('status 0 resets the device: promiscuous again, queues gone, backend reading paused, no config interrupt', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 2);
    await h.settle();
    assert.equal(h.backend.reading[0], true);
    h.setCommon(0x14, 1, 0);
    assert.equal(h.status, 0);
    assert.equal(h.backend.reading[0], false);
    assert.equal(h.device.queue(0), undefined);
    assert.equal(h.device.net.promisc, 1);
    assert.equal(h.device.features, 0n);
    // and it comes back
    h.start();
    h.postRx(0, 2);
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.received(0).length, 1);
    assert.equal(h.status & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
  });

  test('a device that needed a reset works again after one', async () => {
    const h = new NetHarness();
    h.start();
    h.addTx(0, new Uint8Array(4));
    await h.settle();
    assert.ok(h.device.broken);
    h.start();
    assert.equal(h.device.broken, false);
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02' })));
    await h.settle();
    assert.equal(h.backend.sent.length, 1);
  });
});

describe('notifications', () => {
  test('with EVENT_IDX the device interrupts only when the used idx passes used_event', async () => {
    const h = new NetHarness();
    h.start();
    assert.ok(h.device.features & bit(VIRTIO_F_EVENT_IDX));
    h.postRx(0, 16);
    const rxInterrupts = () => h.raised.filter((v) => v === 1).length;
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(rxInterrupts(), 1, 'the first decision after setup always notifies');
    h.driver(0).setUsedEvent(4); // "interrupt me when entry 4 is used"
    for (let i = 0; i < 3; i++) h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.driver(0).readUsedIdx(), 4);
    assert.equal(rxInterrupts(), 1, 'entries 1..3 used: no interrupt');
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(rxInterrupts(), 2, 'entry 4 used: interrupt');
  });

  test('without EVENT_IDX, NO_INTERRUPT suppresses interrupts and the device sets NO_NOTIFY only while a TX flush is pending', async () => {
    const h = new NetHarness();
    h.start(h.offeredFeatures() & ~bit(VIRTIO_F_EVENT_IDX));
    h.postRx(0, 4);
    h.driver(0).setAvailFlags(1);
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.received(0).length, 1);
    assert.equal(h.raised.filter((v) => v === 1).length, 0);
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02' })));
    assert.equal(h.driver(1).readUsedFlags(), 1, 'kicks off until the bottom half ran');
    await h.settle();
    assert.equal(h.driver(1).readUsedFlags(), 0, 'kicks back on');
    assert.equal(h.backend.sent.length, 1);
  });

  test('a device without MSI-X (vectors=0) works and raises nothing', async () => {
    const h = new NetHarness({ vectors: 0 });
    h.start();
    h.postRx(0, 2);
    h.backend.inject(0, withHeader(ethFrame({ dst: GUEST_MAC })));
    await h.settle();
    assert.equal(h.received(0).length, 1);
    assert.deepEqual(h.raised, []);
    assert.equal(h.device.saveState().msix, undefined);
  });
});

describe('queue setup', () => {
  test('rings outside RAM make the device need a reset when the queue is enabled', () => {
    const h = new NetHarness();
    assert.ok(h.negotiate());
    h.setCommon(0x16, 2, 0);
    h.setCommon(0x20, 8, h.memory.size - 64);
    h.setCommon(0x1c, 2, 1);
    assert.ok(h.device.broken);
    assert.equal(h.device.lastError?.code, 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
  });

  test('guest-written config bytes travel in the saved config, as QEMU\'s config cache does; reads refresh it', () => {
    const h = new NetHarness();
    h.start();
    h.transport.write(0x2000 + 6, 2, 0xbeefn);
    assert.deepEqual([...h.device.saveState().config.subarray(6, 8)], [0xef, 0xbe]);
    h.config(6, 2);
    assert.deepEqual([...h.device.saveState().config.subarray(6, 8)], [VIRTIO_NET_S_LINK_UP, 0]);
  });
});

/**
 * Stop-and-copy for virtio-net (DESIGN §5): quiesce leaves nothing
 * half-done, saveState follows QEMU's `needed` rules, the state survives
 * netSectionVmsd encode → decode → loadState on a second device which then
 * saves the same bytes, `vmig analyze` reads it without the device, the
 * destination carries on with the guest's traffic — and a state that does
 * not fit is refused before anything changes.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NetHarness, concat, ethFrame, le16, le32, le64, mac, withHeader } from '../../../test/support/virtio-net-harness.js';
import { analyzeStream } from '../../cli/stream-analysis.js';
import { ByteReader, ByteWriter } from '../../core/index.js';
import { StreamEncoder } from '../../stream/index.js';
import { VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_QUEUE_MAX } from '../../virtio/index.js';
import type { VirtioSavedState } from '../../virtio/index.js';
import { loadState, saveState } from '../../vmstate/index.js';
import { summarizeNetSection } from './net-summary.js';
import type { NetSavedState, QemuFlavor } from './net-vmstate.js';
import { netSectionVmsd } from './net-vmstate.js';
import {
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_ANNOUNCE_ACK,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_ALLMULTI,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_ANNOUNCE,
} from './spec-constants.js';

const OURS = '52:54:00:12:34:56';
const PAIRS = 4;
const VECTORS = 2 * PAIRS + 2;
const bit = (n: number): bigint => 1n << BigInt(n);
/** The minimal state of a saved state (what an early migration's delta always carries). */
const minimal = (s: VirtioSavedState) => ({ lastAvailIdx: s.queues.map((q) => q.lastAvailIdx), isr: s.isr, pba: s.msix?.pba ?? new Uint8Array(0) });
const KEY = Uint8Array.from({ length: 40 }, (_, i) => (i * 7 + 3) & 0xff);

function encode(st: VirtioSavedState, flavor: QemuFlavor = '10.2'): Uint8Array {
  const w = new ByteWriter();
  saveState(w, netSectionVmsd(flavor), st, { msixVectors: VECTORS, pciExpress: false });
  return w.finish();
}

function decode(bytes: Uint8Array, flavor: QemuFlavor = '10.2'): VirtioSavedState {
  const out: Record<string, unknown> = {};
  const r = new ByteReader(bytes);
  loadState(r, netSectionVmsd(flavor), out, 11, { msixVectors: VECTORS, pciExpress: false, maxQueuePairs: PAIRS });
  assert.ok(r.atEnd);
  return out as VirtioSavedState;
}

/** A source device with lots of state: 3 of 4 pairs, RSS, filters, VLANs, offloads, traffic, parked TX. */
async function busySource(): Promise<NetHarness> {
  const a = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'net0' });
  a.start();
  const ok = (v: number) => assert.equal(v, VIRTIO_NET_OK);
  ok(a.ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, Uint8Array.of(0)));
  ok(a.ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, Uint8Array.of(1)));
  ok(a.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, concat([le32(1), mac('02:00:00:00:00:07'), le32(1), mac('01:00:5e:00:00:fb')])));
  ok(a.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(42)));
  ok(a.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4))));
  ok(a.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, concat([le32(0x5), le16(3), le16(1), le16(0), le16(1), le16(2), le16(0), le16(3), Uint8Array.of(40), KEY])));
  for (let p = 0; p < 3; p++) a.postRx(p, 16);
  for (let i = 0; i < 5; i++) a.backend.inject(0, withHeader(ethFrame({ dst: OURS, type: 0x0806 }))); // unclassified → default queue 1
  for (let i = 0; i < 3; i++) a.addTx(2, withHeader(ethFrame({ dst: '02:00:00:00:00:08' })));
  await a.settle();
  assert.equal(a.received(1).length, 5);
  a.device.quiesce();
  // The guest (a vCPU that has not stopped yet) kicks TX during stop-and-copy: parked as tx_waiting.
  a.addTx(1, withHeader(ethFrame({ dst: '02:00:00:00:00:09', payload: new Uint8Array(46).fill(0x5a) })));
  await a.settle();
  return a;
}

describe('quiesce', () => {
  test('after quiesce nothing is in flight, nothing is read from the backend, TX kicks are parked as tx_waiting', async () => {
    const h = new NetHarness();
    h.start();
    h.postRx(0, 4);
    await h.settle();
    h.device.quiesce();
    assert.deepEqual(h.device.inFlight(), [0, 0, 0]);
    assert.equal(h.backend.reading[0], false);
    h.backend.inject(0, withHeader(ethFrame({ dst: OURS })));
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:02' })));
    await h.settle();
    assert.equal(h.received(0).length, 0);
    assert.equal(h.backend.sent.length, 0);
    assert.equal(h.device.net.txWaiting[0], 1);
    assert.deepEqual((h.device.saveState().device as NetSavedState).tx_waiting, [1]);
    h.device.unquiesce();
    await h.settle();
    assert.equal(h.received(0).length, 1);
    assert.equal(h.backend.sent.length, 1);
    assert.equal(h.device.net.txWaiting[0], 0);
  });

  test('quiesce between RX frames of a busy stream leaves every popped chain used and published', async () => {
    const h = new NetHarness({ rxBurst: 3 });
    h.start();
    h.postRx(0, 64);
    for (let i = 0; i < 40; i++) h.backend.inject(0, withHeader(ethFrame({ dst: OURS, payload: new Uint8Array(46).fill(i) })));
    await h.settle(2);
    h.device.quiesce();
    const q = h.device.queue(0)!;
    assert.equal(q.lastAvailIdx, q.usedIdx);
    assert.equal(h.driver(0).readUsedIdx(), q.usedIdx, 'published in guest RAM');
    const before = h.received(0).length;
    await h.settle();
    assert.equal(h.received(0).length, 0, 'nothing more while quiesced');
    h.device.unquiesce();
    await h.settle(30);
    assert.equal(before + h.received(0).length, 40, 'no frame lost across quiesce');
  });
});

describe('saved state', () => {
  test('QEMU needed rules: 64bit_features, virtqueues, modern_state always; started with DRIVER_OK; no ringsize at default sizes; no endian/packed', () => {
    const h = new NetHarness();
    const fresh = h.device.saveState();
    assert.equal(fresh.started, undefined);
    assert.equal(fresh.ring_sizes, undefined);
    assert.equal(fresh.device_endian, undefined);
    assert.equal(fresh.packed_vqs, undefined);
    assert.equal(fresh.queues.length, 3);
    assert.equal(fresh.vrings?.length, VIRTIO_QUEUE_MAX);
    assert.ok(fresh.extra_state?.modern_state);
    assert.equal(fresh.msix?.table.length, 4 * 16, 'vectors default to 2 × pairs + 2');
    assert.equal((fresh.device as NetSavedState).max_queue_pairs, undefined, 'single queue pair: no MQ fields');
    h.start(undefined, { size: 128 });
    const st = h.device.saveState();
    assert.equal(st.started, true);
    assert.equal(st.guest_features_64, h.device.features);
    assert.equal(st.guest_features_lo, Number(h.device.features & 0xffffffffn));
    assert.deepEqual(st.ring_sizes?.slice(0, 4), [256, 256, 64, 0], 'the driver shrank the rings: num_default travels');
    assert.equal(st.queues[0]!.num, 128);
    assert.equal(st.status & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
    assert.equal(st.broken, undefined);
    assert.equal((st.device as NetSavedState).rss_data, undefined);
  });

  for (const flavor of ['10.2', '7.2'] as const) {
    test(`round trip (${flavor}): A saves → encode → decode → B loads → B saves the same bytes; fields equal; analyze reads it`, async () => {
      const a = await busySource();
      const savedA = a.device.saveState({ flavor });
      const bytes = encode(savedA, flavor);
      const decodedA = decode(bytes, flavor);

      const b = new NetHarness({ memory: a.memory, loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'net0' });
      // The device's own context and description decode the same way.
      const viaDevice: Record<string, unknown> = {};
      loadState(new ByteReader(bytes), b.device.sectionVmsd(flavor), viaDevice, 11, b.device.vmstateContext());
      assert.deepEqual(viaDevice, decodedA);
      b.device.loadState(decodedA);
      assert.ok(b.device.quiesced, 'a loaded device waits for the VM to run');
      const savedB = b.device.saveState({ flavor });
      const bytesB = encode(savedB, flavor);
      assert.deepEqual(bytesB, bytes, 'byte-identical');
      const decodedB = decode(bytesB, flavor);
      const na = decodedA.device as NetSavedState;
      const nb = decodedB.device as NetSavedState;
      for (const key of Object.keys(na)) assert.deepEqual(nb[key], na[key], `virtio-net field ${key}`);
      assert.deepEqual(Object.keys(nb).sort(), Object.keys(na).sort());
      assert.equal(na.curr_queue_pairs, 3);
      assert.deepEqual(na.tx_waiting, [0, 1, 0]);
      assert.equal(na.rss_data?.enabled, true);
      assert.equal(na.curr_guest_offloads, bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4));
      assert.equal(savedA.queues[2]!.lastAvailIdx, 5, 'rx1 took five frames');
      assert.equal(b.device.queue(2)!.usedIdx, 5, 'used idx read from guest RAM');

      // Without the device: vmig analyze finds the MSI-X layout in the saved PCI config.
      const enc = new StreamEncoder();
      enc.header().configuration({ machine: 'pc-q35-10.2' });
      enc.sectionHeader({ kind: 'full', sectionId: 3, idstr: '0000:00:02.0/virtio-net', instanceId: 0, version: 11 });
      enc.w.bytes(bytes);
      enc.footer(3).eof();
      const report = analyzeStream(enc.take(), flavor);
      const sum = report.devices[0]!.net!;
      const direct = summarizeNetSection('0000:00:02.0/virtio-net', 0, 11, decodedA);
      assert.deepEqual(sum.net, direct.net);
      assert.deepEqual(sum.virtio, direct.virtio);
      const n = sum.net as { curr_queue_pairs: number; vlans: number[]; mac_table: { macs: string[] }; promisc: boolean };
      assert.equal(n.curr_queue_pairs, 3);
      assert.deepEqual(n.vlans, [42]);
      assert.deepEqual(n.mac_table.macs, ['02:00:00:00:00:07', '01:00:5e:00:00:fb']);
      assert.equal(n.promisc, false);
    });
  }

  test('the destination carries on: parked TX goes out, RX follows RSS, filters and offloads are in place, announce rounds start', async () => {
    const a = await busySource();
    const decoded = decode(encode(a.device.saveState()));
    const b = new NetHarness({ memory: a.memory, loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'net0', announceParams: { initial: 1, max: 5, rounds: 2, step: 1 } });
    b.adoptGuest(a);
    b.device.loadState(decoded);
    assert.deepEqual(b.backend.queueEnabled, [true, true, true, false], 'backend queues attached as curr_queue_pairs says');
    assert.deepEqual(b.backend.offloads, { csum: true, tso4: true, tso6: false, ecn: false, ufo: false });
    assert.equal(b.backend.reading.some((r) => r), false, 'no RX before the VM runs');
    assert.deepEqual(b.device.queryRxFilter(), a.device.queryRxFilter());
    b.device.unquiesce();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.backend.sent.map((s) => [s.queue, s.bytes[b.backend.sent[0]!.bytes.length - 1]]), [[1, 0x5a]], 'the TX kicked during stop-and-copy went out on the destination');
    assert.ok(b.config(6, 2) & VIRTIO_NET_S_ANNOUNCE, 'the announce timer asked the guest to announce');
    assert.ok(b.raised.includes(0), 'config interrupt');
    assert.equal(b.ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK), VIRTIO_NET_OK);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(b.config(6, 2) & VIRTIO_NET_S_ANNOUNCE, 'second round after the ACK');
    b.backend.inject(3, withHeader(ethFrame({ dst: OURS, type: 0x0806 })));
    b.backend.inject(0, withHeader(ethFrame({ dst: '01:00:5e:00:00:fb', type: 0x0806 })));
    b.backend.inject(0, withHeader(ethFrame({ dst: '02:00:00:00:00:99', type: 0x0806 })));
    await b.settle();
    assert.equal(b.received(1).length, 1, 'the multicast frame, steered to the RSS default queue; the unknown unicast filtered');
    assert.equal(b.backend.pending(3), 1, 'queue 3 is not active');
  });

  test('a state that does not fit is refused before anything changes', async () => {
    const a = await busySource();
    const good = decode(encode(a.device.saveState()));
    const make = (props: Record<string, unknown> = {}, pairs = PAIRS, vectors?: number) =>
      new NetHarness({ memory: a.memory, loopback: { queuePairs: pairs }, properties: { mq: true, rss: true, ...props }, ...(vectors === undefined ? {} : { vectors }) });
    const clone = (): VirtioSavedState => decode(encode(good));
    const cases: [string, () => NetHarness, (s: VirtioSavedState) => void, string][] = [
      ['features not offered here', () => make({ rss: false }), () => {}, 'ERR_NET_STATE_MISMATCH'],
      ['other max_queue_pairs', () => make({}, 2), () => {}, 'ERR_NET_STATE_MISMATCH'],
      ['other MSI-X vector count', () => make({}, PAIRS, 6), () => {}, 'ERR_NET_STATE_MISMATCH'],
      ['ring outside RAM', () => make(), (s) => (s.vrings![0]!.used = BigInt(a.memory.size)), 'ERR_NET_STATE_INVALID'],
      ['more in flight than the ring holds', () => make(), (s) => (s.queues[2]!.lastAvailIdx = 300), 'ERR_NET_STATE_INVALID'],
      ['vector beyond the table', () => make(), (s) => (s.queues[0]!.vector = 40), 'ERR_NET_STATE_INVALID'],
      ['curr_queue_pairs above max', () => make(), (s) => ((s.device as NetSavedState).curr_queue_pairs = 5), 'ERR_NET_STATE_INVALID'],
      ['queue larger than this device allows', () => make(), (s) => (s.queues[0]!.num = 512), 'ERR_NET_STATE_MISMATCH'],
      ['offloads beyond the negotiated ones', () => make(), (s) => ((s.device as NetSavedState).curr_guest_offloads = 1n << 40n), 'ERR_NET_STATE_INVALID'],
      ['RSS table not a power of two', () => make(), (s) => Object.assign((s.device as NetSavedState).rss_data!, { indirections_len: 3, indirections_table: [0, 1, 2] }), 'ERR_NET_STATE_INVALID'],
      ['big-endian device', () => make(), (s) => (s.device_endian = 2), 'ERR_NET_STATE_MISMATCH'],
      ['no MQ fields on a multiqueue device', () => make(), (s) => delete (s.device as NetSavedState).max_queue_pairs, 'ERR_NET_STATE_MISMATCH'],
    ];
    for (const [name, build, corrupt, code] of cases) {
      const b = build();
      b.start();
      const before = encode(b.device.saveState(), '10.2');
      const status = b.status;
      const st = clone();
      corrupt(st);
      assert.throws(() => b.device.loadState(st), (e: unknown) => (e as { code?: string }).code === code, name);
      assert.equal(b.status, status, `${name}: transport unchanged`);
      if (b.transport.vectors === VECTORS) assert.deepEqual(encode(b.device.saveState(), '10.2'), before, `${name}: device unchanged`);
    }
  });

  test('a never-driven device round-trips too (all queues of the realize layout, nothing negotiated)', () => {
    const a = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true } });
    const bytes = encode(a.device.saveState());
    const b = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true } });
    b.device.loadState(decode(bytes));
    assert.deepEqual(encode(b.device.saveState()), bytes);
    assert.equal(decode(bytes).queues.length, 2 * PAIRS + 1);
  });

  test('a device without MQ negotiated saves 3 queues and loads into a multiqueue-capable device', async () => {
    const a = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true } });
    a.start(a.offeredFeatures() & ~bit(VIRTIO_NET_F_MQ));
    a.postRx(0, 2);
    a.device.quiesce();
    const bytes = encode(a.device.saveState());
    assert.equal(decode(bytes).queues.length, 3);
    const b = new NetHarness({ memory: a.memory, loopback: { queuePairs: PAIRS }, properties: { mq: true } });
    b.adoptGuest(a);
    b.device.loadState(decode(bytes));
    assert.equal(b.common(0x12, 2), 3);
    b.device.unquiesce();
    b.backend.inject(0, withHeader(ethFrame({ dst: OURS })));
    await b.settle();
    assert.equal(b.received(0).length, 1);
  });
});

describe('early migration: the backend set up before the load', () => {
  test('loadProvisional gives the backend what a full load would; the switchover then changes nothing, or only what differs', async () => {
    const a = await busySource();
    const st = a.device.saveState();
    const full = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'full', memory: a.memory });
    full.device.loadState(st);
    const early = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'early', memory: a.memory });
    early.device.loadProvisional(st);
    for (const k of ['offloads', 'vnetHdrLen', 'queueEnabled', 'linkUp'] as const) assert.deepEqual(early.backend[k], full.backend[k], k);
    assert.deepEqual(early.backend.reading, [false, false, false, false], 'nothing is read before the load');
    early.backend.log.length = 0;
    early.device.resyncAtSwitchover(minimal(st));
    early.device.attachBackend();
    assert.deepEqual(early.backend.log, [], 'the switchover touched the backend for nothing');
    // The guest turned the link off after the early state: only the link changes at the switchover.
    const later = new NetHarness({ loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name: 'later', memory: a.memory });
    later.device.loadProvisional(st);
    later.backend.log.length = 0;
    a.device.setLinkUp(false);
    later.device.applyCategories(a.device.saveState(), ['net-status']);
    later.device.attachBackend();
    assert.deepEqual(later.backend.log, ['link down']);
  });

  test('a provisional load is invisible until the switchover; a resync that does not fit is refused before anything changes; one without a provisional load is a caller error', async () => {
    const a = await busySource();
    const st = a.device.saveState();
    const make = (name: string) => new NetHarness({ memory: a.memory, loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name, announceParams: { initial: 1, max: 5, rounds: 1, step: 1 } });
    const b = make('b');
    b.device.loadProvisional(st);
    b.backend.inject(0, withHeader(ethFrame({ dst: OURS })));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.raised, [], 'no interrupt');
    assert.equal(b.backend.sent.length, 0, 'nothing sent');
    assert.deepEqual(b.backend.reading, [false, false, false, false], 'nothing read');
    assert.equal(b.backend.pending(0), 1, 'the frame waits in the backend');
    assert.equal(b.device.net.status & VIRTIO_NET_S_ANNOUNCE, 0, 'no announce armed');
    const before = encode(b.device.saveState());
    const good = minimal(st);
    for (const [what, bad] of [
      ['a queue index too few', { ...good, lastAvailIdx: good.lastAvailIdx.slice(1) }],
      ['more in flight than the ring holds', { ...good, lastAvailIdx: good.lastAvailIdx.map((v, i) => (i === 2 ? (v + 300) & 0xffff : v)) }],
      ['a PBA of another size', { ...good, pba: new Uint8Array(7) }],
      ['an ISR beyond a byte', { ...good, isr: 256 }],
    ] as const) {
      assert.throws(() => b.device.resyncAtSwitchover(bad), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_STATE_INVALID', what);
      assert.deepEqual(encode(b.device.saveState()), before, `${what}: nothing changed`);
    }
    b.device.resyncAtSwitchover(good);
    b.device.attachBackend();
    const full = make('full');
    full.device.loadState(st);
    assert.deepEqual(encode(b.device.saveState()), encode(full.device.saveState()), 'the same device state as a full load');
    b.adoptGuest(a);
    b.device.unquiesce();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(b.device.net.status & VIRTIO_NET_S_ANNOUNCE, 'the announce, armed at the switchover, runs once the VM does');
    // RSS steers the unclassified frame to its default queue (1).
    assert.equal(b.received(1).length, 1, 'the frame that waited is delivered');
    assert.throws(() => make('fresh').device.resyncAtSwitchover(good), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_NOT_PROVISIONAL');
    assert.throws(() => b.device.applyCategories(st, ['mac']), (e: unknown) => (e as { code?: string }).code === 'ERR_NET_NOT_PROVISIONAL', 'a second switchover');
  });

  /**
   * QMP set_link on a destination while its incoming migration runs. In
   * QEMU it changes n->status and the NIC's link_down at once, then the load
   * overwrites n->status with the source's and virtio_net_post_load_device
   * sets link_down from it: the source's link wins. Here on every path the
   * device ends with the source's state (its config-space copy included,
   * which set_link never writes), the backend's link ends matching it after
   * one call, and no config interrupt reaches a guest that has not run here.
   */
  test("set_link on the destination during an incoming migration does not survive the load: the source's link wins on every path", async () => {
    const a = await busySource();
    const linkUp = a.device.saveState();
    a.device.setLinkUp(false);
    const linkDown = a.device.saveState();
    // Another category changed after the early section (promisc on): applied by its handler alone.
    const withPromisc = (s: VirtioSavedState): VirtioSavedState => {
      const c = decode(encode(s));
      (c.device as NetSavedState).promisc = 1;
      return c;
    };
    type Path = (b: NetHarness, source: VirtioSavedState, setLink: () => void) => VirtioSavedState;
    const paths: [string, Path][] = [
      ['classic, set_link before any section', (b, st, setLink) => {
        setLink();
        b.device.loadState(st, { deferBackendAttach: true });
        return st;
      }],
      ['early, set_link before the early section', (b, st, setLink) => {
        setLink();
        b.device.loadProvisional(st);
        b.device.resyncAtSwitchover(minimal(st));
        return st;
      }],
      ['early, set_link after the early section, nothing changed on the source (resync)', (b, st, setLink) => {
        b.device.loadProvisional(st);
        setLink();
        b.device.resyncAtSwitchover(minimal(st));
        return st;
      }],
      ['early, set_link after the early section, rx-filter changed on the source (its handler)', (b, st, setLink) => {
        b.device.loadProvisional(st);
        setLink();
        const now = withPromisc(st);
        b.device.applyCategories(now, ['rx-filter']);
        return now;
      }],
      ['early, set_link after the early section, a full reload', (b, st, setLink) => {
        b.device.loadProvisional(st);
        setLink();
        b.device.loadState(st, { deferBackendAttach: true });
        return st;
      }],
    ];
    const make = (name: string) => new NetHarness({ memory: a.memory, loopback: { queuePairs: PAIRS }, properties: { mq: true, rss: true }, name });
    for (const [source, sourceUp] of [[linkUp, true], [linkDown, false]] as const) {
      for (const [what, path] of paths) {
        const label = `${what}, source link ${sourceUp ? 'up' : 'down'}`;
        const b = make('b');
        let mark = -1;
        const expected = path(b, source, () => {
          b.device.setLinkUp(!sourceUp);
          mark = b.backend.log.length;
        });
        b.device.attachBackend();
        assert.equal(b.device.linkUp, sourceUp, `${label}: the device's link`);
        assert.equal(b.backend.linkUp, sourceUp, `${label}: the backend's link`);
        assert.deepEqual(b.backend.log.slice(mark).filter((l) => l.startsWith('link')), [`link ${sourceUp ? 'up' : 'down'}`], `${label}: the backend's link set once after set_link`);
        assert.deepEqual(b.raised, [], `${label}: no interrupt before the VM runs here`);
        const ref = make('ref');
        ref.device.loadState(expected);
        assert.deepEqual(encode(b.device.saveState()), encode(ref.device.saveState()), `${label}: the source's state, field for field`);
      }
    }
  });
});

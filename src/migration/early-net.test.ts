/**
 * Early virtio-net migration's bookkeeping (early-net.ts) against a real
 * device: each tracked category is detected alone when the guest changes
 * it; the destination rebuilds exactly the source's state from its early
 * copy and the delta under both policies; the delta section round-trips
 * and refuses malformed input with typed errors.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NetHarness, concat, ethFrame, le16, le32, le64, mac, withHeader } from '../../test/support/virtio-net-harness.js';
import { ByteReader, ByteWriter, MalformedError } from '../core/index.js';
import {
  VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_OK,
} from '../devices/net/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import type { VmState } from '../vmstate/index.js';
import { applyDelta, applyEarlySwitchover, buildDelta, changedCategories, copyForMerge, netDeltaVmsd, sameValue, withSyntheticChanges } from './early-net.js';
import type { EarlyCategory, EarlyPolicy, NetDelta } from './early-net.js';

const OURS = '52:54:00:12:34:56';
/** virtio-pci common config: device_status. */
const DEVICE_STATUS = 0x14;
const KEY = Uint8Array.from({ length: 40 }, (_, i) => (i * 7 + 3) & 0xff);

/** A TX flush takes 4 chains per turn here (QEMU x-txburst), so a burst of kicks can be caught pending. */
const TX_BURST = 4;

function device(): NetHarness {
  const h = new NetHarness({ loopback: { queuePairs: 4 }, properties: { mq: true, rss: true }, name: 'net0', txBurst: TX_BURST });
  h.start();
  for (let p = 0; p < 4; p++) h.postRx(p, 8);
  return h;
}

/** The destination's device over the same guest RAM, holding the early state as the setup phase loads it. */
function destination(h: NetHarness, early: VirtioSavedState): NetHarness {
  const d = new NetHarness({ memory: h.memory, loopback: { queuePairs: 4 }, properties: { mq: true, rss: true }, name: 'net0', txBurst: TX_BURST });
  d.device.loadProvisional(codec(h).decode(codec(h).encode(early)));
  return d;
}

/** Encode with the device's own codec; decode back (what the full payload does). */
function codec(h: NetHarness) {
  const vmsd = h.device.sectionVmsd();
  const ctx = h.device.vmstateContext();
  return {
    encode: (s: VirtioSavedState) => {
      const w = new ByteWriter(1 << 16);
      saveState(w, vmsd, s as unknown as VmState, ctx);
      return w.finish();
    },
    decode: (b: Uint8Array) => {
      const out: VmState = {};
      loadState(new ByteReader(b), vmsd, out, vmsd.version, ctx);
      return out as unknown as VirtioSavedState;
    },
  };
}

/** Through the delta section's bytes, as the destination sees it. */
function wire(d: NetDelta): NetDelta {
  const w = new ByteWriter(256);
  saveState(w, netDeltaVmsd, { ...d } as unknown as VmState);
  const out: VmState = {};
  const r = new ByteReader(w.finish());
  loadState(r, netDeltaVmsd, out, 1);
  assert.ok(r.atEnd);
  return out as unknown as NetDelta;
}

const ok = (v: number) => assert.equal(v, VIRTIO_NET_OK);

const CHANGES: [string, EarlyCategory[], (h: NetHarness) => void | Promise<void>][] = [
  ['MAC', ['mac'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac('52:54:00:aa:bb:cc')))],
  ['MAC table', ['mac-table'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, concat([le32(1), mac('02:00:00:00:00:07'), le32(1), mac('01:00:5e:00:00:fb')])))],
  // QEMU's default is promiscuous: the guest turning it off is the change.
  ['rx filter', ['rx-filter'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, Uint8Array.of(0)))],
  ['VLAN table', ['vlan'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(42)))],
  ['guest offloads', ['offloads-mq'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, le64(1n << BigInt(VIRTIO_NET_F_GUEST_CSUM))))],
  // tx_waiting has one entry per active pair: the pair count moves it too.
  ['queue pairs', ['offloads-mq', 'pending-tx'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16(2)))],
  // RSS also sets the active pairs from its table (QEMU virtio_net_handle_rss).
  ['RSS', ['offloads-mq', 'rss', 'pending-tx'], (h) => ok(h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, concat([le32(0x5), le16(3), le16(1), le16(0), le16(1), le16(2), le16(0), le16(4), Uint8Array.of(40), KEY])))],
  ['link (VirtIONet status)', ['net-status'], (h) => h.device.setLinkUp(false)],
  ['pending TX (a kick during the stop)', ['pending-tx'], async (h) => {
    h.device.quiesce();
    h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:09' })));
    await h.settle();
  }],
  // The guest queued more than a burst: the flush takes TX_BURST chains per turn, the stop catches the rest pending.
  ['pending TX (more than a burst queued at the stop)', ['pending-tx'], async (h) => {
    for (let i = 0; i < 3 * TX_BURST; i++) h.addTx(0, withHeader(ethFrame({ dst: '02:00:00:00:00:09' })), { publish: false });
    if (h.driver(1).publish()) h.kick(1);
    await h.settle(1);
    h.device.quiesce();
    assert.equal(h.device.net.txWaiting[0], 1);
  }],
  // A ring re-init (ethtool -G): reset, the same features again, smaller rings; everything else as the guest had it.
  ['ring re-init (queue sizes)', ['vq'], (h) => {
    h.start(undefined, { size: 128 });
    for (let p = 0; p < 4; p++) h.postRx(p, 8);
  }],
  // A driver bug: a TX buffer outside RAM. The device marks itself broken and sets DEVICE_NEEDS_RESET (QEMU virtio_error).
  ['DEVICE_NEEDS_RESET (VirtIODevice status, broken)', ['device-status'], async (h) => {
    h.driver(1).addChain([{ gpa: h.memory.size - 8, len: 64, writable: false }]);
    if (h.driver(1).publish()) h.kick(1);
    await h.settle();
    assert.ok(h.device.broken);
  }],
  // A reset clears the rings, status, negotiated features and offloads; the VLAN added before it is cleared too (back to the early state).
  ['device reset (VirtIODevice status, queues, features)', ['vq', 'device-status', 'offloads-mq', 'transport'], (h) => {
    ok(h.ctrl(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16(7)));
    h.setCommon(DEVICE_STATUS, 1, 0);
  }],
];

describe('early virtio-net migration: categories and deltas', () => {
  test('traffic alone changes no tracked category: only the minimal state moves', async () => {
    const h = device();
    const early = h.device.saveState();
    for (let i = 0; i < 5; i++) h.backend.inject(0, withHeader(ethFrame({ dst: OURS })));
    h.addTx(1, withHeader(ethFrame({ dst: '02:00:00:00:00:08' })));
    await h.settle();
    const now = h.device.saveState();
    assert.ok(!sameValue(early.queues, now.queues), 'ring indices moved');
    assert.deepEqual(changedCategories(early, now), []);
    for (const policy of ['rfc', 'per-delta'] as EarlyPolicy[]) {
      const d = wire(buildDelta(policy, early, now, codec(h).encode));
      assert.equal(d.fullReload, false);
      assert.equal(d.full, undefined);
      assert.equal(d.slices, undefined);
      assert.deepEqual(applyDelta(structuredClone(early), d, codec(h).decode), now);
      const dst = destination(h, early);
      applyEarlySwitchover(dst.device, codec(h).decode(codec(h).encode(early)), d, codec(h).decode);
      assert.deepEqual(codec(h).encode(dst.device.saveState()), codec(h).encode(now), 'the minimal state alone brings the device to the source\'s state');
    }
  });

  for (const [what, expected, change] of CHANGES) {
    test(`${what}: detected as ${expected.join(' + ')}; both policies rebuild the source's state exactly`, async () => {
      const h = device();
      const early = h.device.saveState();
      await change(h);
      const now = h.device.saveState();
      assert.deepEqual(changedCategories(early, now), expected);
      const rfc = wire(buildDelta('rfc', early, now, codec(h).encode));
      assert.equal(rfc.fullReload, true, 'rfc reloads on any change');
      assert.deepEqual(applyDelta(structuredClone(early), rfc, codec(h).decode), codec(h).decode(codec(h).encode(now)));
      const per = wire(buildDelta('per-delta', early, now, codec(h).encode));
      const reload = expected.includes('transport');
      assert.equal(per.fullReload, reload, 'per-delta reloads only for a transport change (renegotiation)');
      assert.deepEqual(per.changed, expected);
      assert.deepEqual(applyDelta(structuredClone(early), per, codec(h).decode), reload ? codec(h).decode(codec(h).encode(now)) : now);
      // The warm-ups merge into copyForMerge's copy: the same result, and the original untouched.
      const pristine = structuredClone(early);
      assert.deepEqual(applyDelta(copyForMerge(early), per, codec(h).decode), reload ? codec(h).decode(codec(h).encode(now)) : now);
      assert.deepEqual(early, pristine, 'copyForMerge: merging into the copy left the early state as it was');
      if (!reload) assert.ok((per.slices?.length ?? 0) < 2000, `per-delta carries only the changed values (${per.slices?.length} bytes)`);
      // The destination's device, holding the early state, ends with exactly the source's state under both policies.
      for (const d of [rfc, per]) {
        const dst = destination(h, early);
        applyEarlySwitchover(dst.device, codec(h).decode(codec(h).encode(early)), d, codec(h).decode);
        dst.device.attachBackend();
        assert.deepEqual(codec(h).encode(dst.device.saveState()), codec(h).encode(now), `${d.policy}: the destination's device state`);
        assert.equal(dst.backend.sent.length, 0, 'nothing sent before the VM runs');
      }
    });
  }

  test('withSyntheticChanges changes the VLAN filter, rx-mode and MAC of a copy, and nothing of its input', () => {
    const h = device();
    const early = h.device.saveState();
    const pristine = structuredClone(early);
    const changed = withSyntheticChanges(early);
    assert.deepEqual(changedCategories(early, changed), ['mac', 'rx-filter', 'vlan']);
    assert.deepEqual(early, pristine);
    assert.deepEqual(changedCategories(early, withSyntheticChanges(changed)), [], 'each change is one flipped bit: twice is none');
  });

  // QMP set_link on the destination after its early load: the delta never carries net-status unless the source changed it.
  test("set_link on the destination after the early load does not survive the switchover: the source's state, whatever the delta carries", async () => {
    const cases: [string, (h: NetHarness) => void][] = [
      ['nothing changed', () => {}],
      ['the MAC changed', CHANGES[0]![2] as (h: NetHarness) => void],
      ["the source's own link went down", (h) => h.device.setLinkUp(false)],
    ];
    for (const [what, change] of cases) {
      const h = device();
      const early = h.device.saveState();
      change(h);
      const now = h.device.saveState();
      for (const policy of ['rfc', 'per-delta'] as EarlyPolicy[]) {
        const label = `${what} (${policy})`;
        const d = wire(buildDelta(policy, early, now, codec(h).encode));
        const dst = destination(h, early);
        dst.device.setLinkUp(!h.device.linkUp);
        applyEarlySwitchover(dst.device, codec(h).decode(codec(h).encode(early)), d, codec(h).decode);
        dst.device.attachBackend();
        assert.deepEqual(codec(h).encode(dst.device.saveState()), codec(h).encode(now), `${label}: the destination's device state`);
        assert.equal(dst.backend.linkUp, h.device.linkUp, `${label}: the backend's link`);
      }
    }
  });

  test('the delta section is small with nothing changed, and malformed ones are typed errors', () => {
    const h = device();
    const s = h.device.saveState();
    const w = new ByteWriter(256);
    saveState(w, netDeltaVmsd, { ...buildDelta('per-delta', s, s, codec(h).encode) } as unknown as VmState);
    const bytes = w.finish();
    // policy, mask, reload, queue count, 9 indices, ISR, PBA (len + 1 byte), 4 INTx words, payload length.
    assert.equal(bytes.length, 1 + 4 + 1 + 4 + 9 * 2 + 1 + 4 + s.msix!.pba.length + 16 + 4);
    const bad = (patch: (b: Uint8Array) => void, message: RegExp) => {
      const b = bytes.slice();
      patch(b);
      assert.throws(() => loadState(new ByteReader(b), netDeltaVmsd, {}, 1), (e: unknown) => e instanceof Error && message.test(e.message));
    };
    bad((b) => (b[0] = 7), /policy 7/);
    bad((b) => (b[1] = 0xff), /unknown category bits/);
    bad((b) => b.set([0xff, 0xff, 0xff, 0xff], 6), /queues exceed/);
    assert.throws(() => loadState(new ByteReader(bytes.subarray(0, 20)), netDeltaVmsd, {}, 1), (e: unknown) => e instanceof MalformedError || (e as Error).name === 'TruncatedError');
    const wrong = { ...buildDelta('per-delta', s, s, codec(h).encode), lastAvailIdx: [1, 2] };
    assert.throws(() => applyDelta(structuredClone(s), wrong, codec(h).decode), /2 queue indices, the early state 9 queues/);
  });
});

/**
 * virtio-net's saved state beyond the fixture: multiqueue, RSS (QEMU 7.2's v1
 * and 10.2's v2 subsection), CTRL_GUEST_OFFLOADS, an overflowing MAC table,
 * 10.2's vhost back-end state, and how a decoder without a device finds the
 * layout. Bytes of the device part are checked against the field table of
 * research/qemu-wire-format.md §4.1.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, ByteWriter, MalformedError } from '../../core/index.js';
import type { VirtioSavedState } from '../../virtio/index.js';
import { loadState, saveState } from '../../vmstate/index.js';
import type { NetSavedState } from './net-vmstate.js';
import { netDeviceVmsd, netSectionVmsd } from './net-vmstate.js';
import { summarizeNetSection, vlanIds } from './net-summary.js';
import { VIRTIO_NET_F_CTRL_GUEST_OFFLOADS } from './spec-constants.js';

function netState(over: Partial<NetSavedState> = {}): NetSavedState {
  const vlans = new Uint8Array(512);
  // VLAN 0 and 100: bit (v & 31) of little-endian u32 word (v >> 5).
  vlans[0] = 0x01;
  vlans[(100 >> 5) * 4 + ((100 & 31) >> 3)] = 1 << (100 & 7);
  return {
    mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56),
    tx_waiting: [0, 1, 0],
    mergeable_rx_bufs: 1,
    status: 1,
    promisc: 0,
    allmulti: 1,
    mac_table: { in_use: 2, macs: Uint8Array.of(0x52, 0x54, 0, 0, 0, 1, 0x01, 0x00, 0x5e, 0, 0, 0xfb), multi_overflow: 0, uni_overflow: 0 },
    vlans,
    has_vnet_hdr: 1,
    alluni: 0,
    nomulti: 0,
    nouni: 0,
    nobcast: 1,
    has_ufo: 0,
    max_queue_pairs: 4,
    curr_queue_pairs: 3,
    curr_guest_offloads: 0x782n,
    rss_data: {
      enabled: true,
      redirect: true,
      populate_hash: false,
      hash_types: 0x3f,
      indirections_len: 4,
      default_queue: 0,
      key: new Uint8Array(40).map((_, i) => i),
      indirections_table: [0, 1, 2, 0],
    },
    ...over,
  };
}

const offloadsFeature = 1 << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS;

function virtioState(device: NetSavedState): VirtioSavedState {
  const config = new Uint8Array(256);
  return {
    pci: { version: 2, config, irq_state: [0, 0, 0, 0] },
    status: 0x0f,
    isr: 0,
    queue_sel: 0,
    guest_features_lo: offloadsFeature | (1 << 22),
    config: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 4, 0),
    queues: Array.from({ length: 9 }, (_, i) => ({ num: i === 8 ? 64 : 256, desc: BigInt(0x100000 * (i + 1)), lastAvailIdx: i })),
    device,
    guest_features_64: 0x1_0040_0004n,
  };
}

describe('virtio-net device state (vmstate_virtio_net_device v11)', () => {
  test('the multiqueue fields follow has_ufo and tx_waiting of pairs 1..curr-1 follows curr_queue_pairs', () => {
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState({ rss_data: undefined }), { guestFeaturesLo: offloadsFeature });
    const b = w.finish();
    // mac 6 · tx_waiting 4 · mergeable 4 · status 2 · promisc 1 · allmulti 1 · in_use 4 · macs 12 · vlans 512
    // · has_vnet_hdr 4 · multi/uni overflow 2 · alluni nomulti nouni nobcast 4 · has_ufo 1 = 557
    const at = 557;
    assert.deepEqual([...b.subarray(0, 6)], [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert.deepEqual([...b.subarray(6, 10)], [0, 0, 0, 0], 'tx_waiting of pair 0');
    assert.deepEqual([...b.subarray(18, 22)], [0, 0, 0, 2], 'mac_table.in_use');
    assert.equal(b[22 + 12], 0x01, 'vlans: VLAN 0 is bit 0 of the first (little-endian) word');
    assert.deepEqual([...b.subarray(at, at + 4)], [0, 4, 0, 3], 'max_queue_pairs 4, curr_queue_pairs 3');
    assert.deepEqual([...b.subarray(at + 4, at + 12)], [0, 0, 0, 1, 0, 0, 0, 0], 'tx_waiting of pairs 1 and 2');
    assert.deepEqual([...b.subarray(at + 12, at + 20)], [0, 0, 0, 0, 0, 0, 0x07, 0x82], 'curr_guest_offloads');
    assert.equal(b.length, at + 20, 'no subsection without RSS');
  });

  test('a single-queue device sends neither queue-pair field and no offloads without CTRL_GUEST_OFFLOADS', () => {
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState({ max_queue_pairs: 1, curr_queue_pairs: 1, rss_data: undefined }), { guestFeaturesLo: 0 });
    assert.equal(w.finish().length, 557);
  });

  test('7.2 writes RSS as subsection version 1 and 10.2 as version 2 with supported_hash_types', () => {
    const s72 = new ByteWriter();
    saveState(s72, netDeviceVmsd('7.2'), netState(), { guestFeaturesLo: offloadsFeature });
    const b72 = s72.finish();
    const name = 'virtio-net-device/rss';
    const at = 577;
    assert.equal(b72[at], 0x05);
    assert.equal(b72[at + 1], name.length);
    assert.equal(new TextDecoder().decode(b72.subarray(at + 2, at + 2 + name.length)), name);
    const v = at + 2 + name.length;
    assert.deepEqual([...b72.subarray(v, v + 4)], [0, 0, 0, 1]);
    // enabled redirect populate_hash · be32 hash_types · be16 len · be16 default · key 40 · 4 × be16
    assert.equal(b72.length, v + 4 + 3 + 4 + 2 + 2 + 40 + 8);
    const s102 = new ByteWriter();
    const st = netState();
    st.rss_data!.supported_hash_types = 0x1ff;
    saveState(s102, netDeviceVmsd('10.2'), st, { guestFeaturesLo: offloadsFeature });
    const b102 = s102.finish();
    assert.deepEqual([...b102.subarray(v, v + 4)], [0, 0, 0, 2]);
    assert.equal(b102.length, b72.length + 4);
  });

  test('a QEMU 7.2-shaped destination refuses a 10.2 RSS subsection as too new', () => {
    const w = new ByteWriter();
    const st = netState();
    st.rss_data!.supported_hash_types = 0x1ff;
    saveState(w, netDeviceVmsd('10.2'), st, { guestFeaturesLo: offloadsFeature });
    const r = new ByteReader(w.finish());
    assert.throws(() => loadState(r, netDeviceVmsd('7.2'), { max_queue_pairs: 4 }, 11, { guestFeaturesLo: offloadsFeature }), (e: unknown) => e instanceof MalformedError && e.code === 'ERR_VMSTATE_VERSION_TOO_NEW');
  });

  test('a 10.2 destination loads a 7.2 RSS subsection (v1) without supported_hash_types', () => {
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState(), { guestFeaturesLo: offloadsFeature });
    const out: Record<string, unknown> = { max_queue_pairs: 4 };
    loadState(new ByteReader(w.finish()), netDeviceVmsd('10.2'), out, 11, { guestFeaturesLo: offloadsFeature });
    const rss = (out as NetSavedState).rss_data!;
    assert.equal(rss.supported_hash_types, undefined);
    assert.deepEqual(rss.indirections_table, [0, 1, 2, 0]);
  });

  test('the destination must have the same max_queue_pairs (uint16 equal)', () => {
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState({ rss_data: undefined }), { guestFeaturesLo: offloadsFeature });
    const bytes = w.finish();
    assert.throws(() => loadState(new ByteReader(bytes), netDeviceVmsd('7.2'), { max_queue_pairs: 2 }, 11, { guestFeaturesLo: offloadsFeature }), (e: unknown) => e instanceof MalformedError && e.code === 'ERR_VMSTATE_NOT_EQUAL');
  });

  test('curr_queue_pairs above max_queue_pairs is refused', () => {
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState({ curr_queue_pairs: 5, tx_waiting: [0, 0, 0, 0, 0], rss_data: undefined }), { guestFeaturesLo: 0 });
    assert.throws(() => loadState(new ByteReader(w.finish()), netDeviceVmsd('7.2'), { max_queue_pairs: 4 }, 11, { guestFeaturesLo: 0 }), (e: unknown) => e instanceof MalformedError && e.code === 'ERR_NET_BAD_STATE');
  });

  test('a MAC table of more than 64 entries is skipped on the wire and cleared on load, as QEMU does', () => {
    const macs = new Uint8Array(65 * 6).fill(0xaa);
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('7.2'), netState({ mac_table: { in_use: 65, macs, multi_overflow: 1, uni_overflow: 0 }, rss_data: undefined, max_queue_pairs: 1, curr_queue_pairs: 1 }), { guestFeaturesLo: 0 });
    const bytes = w.finish();
    // The writer sent zeros ("unused") for an oversized table.
    assert.deepEqual([...bytes.subarray(18, 22)], [0, 0, 0, 65]);
    assert.ok(bytes.subarray(22, 22 + 390).every((b) => b === 0));
    const out: Record<string, unknown> = { max_queue_pairs: 1 };
    loadState(new ByteReader(bytes), netDeviceVmsd('7.2'), out, 11, { guestFeaturesLo: 0 });
    assert.equal((out as NetSavedState).mac_table.in_use, 0);
  });

  test('10.2 carries a vhost back-end state as length-prefixed chunks ending in a zero-length chunk', () => {
    const st = netState({ rss_data: undefined, backend_state: [Uint8Array.of(1, 2, 3)] });
    const w = new ByteWriter();
    saveState(w, netDeviceVmsd('10.2'), st, { guestFeaturesLo: 0 });
    const b = w.finish();
    const tail = [...b.subarray(b.length - 11)];
    assert.deepEqual(tail, [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0]);
    const out: Record<string, unknown> = { max_queue_pairs: 4 };
    loadState(new ByteReader(b), netDeviceVmsd('10.2'), out, 11, { guestFeaturesLo: 0 });
    assert.deepEqual((out as NetSavedState).backend_state, [Uint8Array.of(1, 2, 3)]);
  });

  test('vlanIds reads the raw little-endian u32 words', () => {
    assert.deepEqual(vlanIds(netState().vlans), [0, 100]);
  });
});

describe('virtio-net section (virtio_save with virtio-net inside)', () => {
  test('a whole section round-trips with MSI-X, 9 queues, RSS and the 64-bit feature subsection', () => {
    const st = virtioState(netState());
    st.msix = { table: new Uint8Array(10 * 16).fill(7), pba: new Uint8Array(2), config_vector: 0 };
    st.queues.forEach((q, i) => (q.vector = i < 8 ? i + 1 : 0xffff));
    const ctx = { msixVectors: 10, pciExpress: false };
    const w = new ByteWriter();
    saveState(w, netSectionVmsd('7.2'), st, ctx);
    const bytes = w.finish();
    const out: Record<string, unknown> = { device: { max_queue_pairs: 4 } };
    const r = new ByteReader(bytes);
    loadState(r, netSectionVmsd('7.2'), out, 11, ctx);
    assert.ok(r.atEnd);
    const again = new ByteWriter();
    saveState(again, netSectionVmsd('7.2'), out, ctx);
    assert.deepEqual(again.finish(), bytes);
    const sum = summarizeNetSection('0000:00:02.0/virtio-net', 0, 11, out as VirtioSavedState);
    assert.equal((sum.net as { curr_queue_pairs: number }).curr_queue_pairs, 3);
    assert.equal((sum.virtio as { guest_features: string }).guest_features, '0x100400004');
    assert.deepEqual((sum.net as { vlans: number[] }).vlans, [0, 100]);
  });

  test('a vector beyond the function\'s MSI-X table is refused', () => {
    const st = virtioState(netState({ rss_data: undefined }));
    st.msix = { table: new Uint8Array(4 * 16), pba: new Uint8Array(1), config_vector: 0 };
    st.queues.forEach((q) => (q.vector = 9));
    const w = new ByteWriter();
    saveState(w, netSectionVmsd('7.2'), st, { msixVectors: 4 });
    assert.throws(() => loadState(new ByteReader(w.finish()), netSectionVmsd('7.2'), { device: { max_queue_pairs: 4 } }, 11, { msixVectors: 4 }), (e: unknown) => e instanceof MalformedError && e.code === 'ERR_VIRTIO_BAD_STATE');
  });

  test('a queue count above 1024 is refused before anything is allocated', () => {
    const st = virtioState(netState({ rss_data: undefined }));
    const w = new ByteWriter();
    saveState(w, netSectionVmsd('7.2'), st, {});
    const bytes = w.finish();
    // Part C sits after PCI (4+256+16), status/isr/queue_sel/features (8), config_len + config (4+10).
    const at = 276 + 8 + 14;
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, 0x10000, false);
    assert.throws(() => loadState(new ByteReader(bytes), netSectionVmsd('7.2'), {}, 11, {}), (e: unknown) => e instanceof MalformedError && /Invalid number of virtqueues/.test((e as Error).message));
  });
});

/**
 * analyzeStream on streams vmig writes itself (no QEMU involved): virtio-net
 * sections whose layout is not on the wire (MSI-X vectors, PCIe config size,
 * the loader's max_queue_pairs) are framed from what the bytes say.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteWriter } from '../src/core/index.js';
import { netSectionVmsd } from '../src/devices/net/index.js';
import type { NetSavedState } from '../src/devices/net/index.js';
import { StreamEncoder } from '../src/stream/index.js';
import type { VirtioSavedState } from '../src/virtio/index.js';
import { formatQemuJson, saveState, saveWithVmdesc } from '../src/vmstate/index.js';
import { analyzeStream } from '../src/cli/stream-analysis.js';

function pciConfigWithMsix(vectors: number, express: boolean): Uint8Array {
  const c = new Uint8Array(express ? 4096 : 256);
  if (vectors === 0 && !express) return c;
  c[0x06] = 0x10; // PCI_STATUS_CAP_LIST
  c[0x34] = 0x40; // first capability
  c[0x40] = 0x11; // MSI-X
  c[0x41] = express ? 0x50 : 0;
  c[0x42] = (vectors - 1) & 0xff;
  c[0x43] = (vectors - 1) >> 8;
  if (express) c[0x50] = 0x10; // PCI Express capability
  return c;
}

function section(maxQueuePairs: number, vectors: number, express: boolean): VirtioSavedState {
  const pairs = Math.min(maxQueuePairs, 2);
  const device: NetSavedState = {
    mac: Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef),
    tx_waiting: Array(pairs).fill(0),
    mergeable_rx_bufs: 1,
    status: 1,
    promisc: 1,
    allmulti: 0,
    mac_table: { in_use: 0, macs: new Uint8Array(0), multi_overflow: 0, uni_overflow: 0 },
    vlans: new Uint8Array(512),
    has_vnet_hdr: 1,
    alluni: 0,
    nomulti: 0,
    nouni: 0,
    nobcast: 0,
    has_ufo: 0,
    ...(maxQueuePairs > 1 ? { max_queue_pairs: maxQueuePairs, curr_queue_pairs: pairs } : {}),
  };
  const queues = Array.from({ length: 2 * maxQueuePairs + 1 }, (_, i) => ({ num: 256, desc: BigInt((i + 1) << 20), lastAvailIdx: 0, ...(vectors ? { vector: i % vectors } : {}) }));
  return {
    pci: { version: 2, config: pciConfigWithMsix(vectors, express), irq_state: [0, 0, 0, 0] },
    ...(vectors ? { msix: { table: new Uint8Array(vectors * 16), pba: new Uint8Array(Math.ceil(vectors / 8)), config_vector: 0 } } : {}),
    status: 0x0f,
    isr: 0,
    queue_sel: 0,
    guest_features_lo: 1 << 22,
    config: new Uint8Array(10),
    queues,
    device,
    guest_features_64: 0x1_0040_0000n,
  };
}

function streamWith(st: VirtioSavedState, ctx: Record<string, unknown>, withVmdesc: boolean): Uint8Array {
  const enc = new StreamEncoder();
  enc.header().configuration({ machine: 'pc-q35-11.1' });
  enc.sectionHeader({ kind: 'full', sectionId: 7, idstr: '0000:00:03.0/virtio-net', instanceId: 0, version: 11 });
  let entry: Record<string, unknown> | undefined;
  if (withVmdesc) entry = saveWithVmdesc(enc.w, netSectionVmsd('7.2'), st, '0000:00:03.0/virtio-net', 0, ctx);
  else saveState(enc.w, netSectionVmsd('7.2'), st, ctx);
  enc.footer(7).eof();
  if (entry) enc.vmdesc(formatQemuJson({ page_size: 4096, devices: [entry] }));
  return enc.take();
}

describe('analyzeStream on vmig-written virtio-net sections', () => {
  for (const [maxQueuePairs, vectors, express] of [
    [1, 4, false],
    [4, 10, false],
    [4, 10, true],
    [8, 0, false],
  ] as const) {
    test(`finds the layout of a ${maxQueuePairs}-pair device with ${vectors} MSI-X vectors${express ? ' and PCIe config' : ''}, with and without vmdesc`, () => {
      const st = section(maxQueuePairs, vectors, express);
      const ctx = { msixVectors: vectors, pciExpress: express };
      for (const withVmdesc of [false, true]) {
        const bytes = streamWith(st, ctx, withVmdesc);
        const report = analyzeStream(bytes);
        assert.equal(report.machine, 'pc-q35-11.1');
        assert.equal(report.devices.length, 1);
        const net = report.devices[0]!.net!;
        assert.equal((net.net as { max_queue_pairs: number }).max_queue_pairs, maxQueuePairs);
        assert.equal((net.net as { promisc: boolean }).promisc, true);
        assert.equal((net.virtio as { queues: unknown[] }).queues.length, 2 * maxQueuePairs + 1);
        // Re-encoding the decoded state gives the section body back.
        const w = new ByteWriter();
        saveState(w, netSectionVmsd('7.2'), report.devices[0]!.state, ctx);
        const item = report.items.find((i) => i.type === 'device-state')!;
        assert.deepEqual(w.finish(), bytes.subarray(item.offset, item.offset + (item as { size: number }).size));
      }
    });
  }

  test('the vmdesc vmig writes has QEMU\'s shape: one opaque "virtio" field of the body\'s size', () => {
    const bytes = streamWith(section(1, 4, false), { msixVectors: 4 }, true);
    const report = analyzeStream(bytes);
    const vm = report.items.find((i) => i.type === 'vmdesc')!;
    const text = new TextDecoder().decode((vm as { json: Uint8Array }).json);
    const body = report.items.find((i) => i.type === 'device-state') as { size: number };
    assert.equal(text, `{"page_size": 4096, "devices": [{"name": "0000:00:03.0/virtio-net", "instance_id": 0, "vmsd_name": "virtio-net", "version": 11, "fields": [{"name": "virtio", "type": "virtio", "size": ${body.size}}]}]}`);
  });
});

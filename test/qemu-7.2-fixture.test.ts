/**
 * The real QEMU 7.2 stream (../shared/fixtures/qemu-7.2/plain-1q): a q35
 * guest running Linux with virtio-net-pci on a 4-queue TAP. It must decode
 * completely, its virtio-net values must match what QEMU itself reported
 * (rx-filter.json) and was told (cmdline.txt), and re-encoding must give the
 * same bytes.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';

import { ByteReader, ByteWriter, TruncatedError } from '../src/core/index.js';
import { netSectionVmsd } from '../src/devices/net/index.js';
import type { NetSavedState } from '../src/devices/net/index.js';
import { readInputFile } from '../src/host/index.js';
import { StreamDecoder, encodeItems } from '../src/stream/index.js';
import type { StreamItem } from '../src/stream/index.js';
import type { VirtioSavedState } from '../src/virtio/index.js';
import type { VmdescField, VmdescNode } from '../src/vmstate/index.js';
import { loadState, saveState } from '../src/vmstate/index.js';
import { analysisResolver, analyzeStream, findVmdesc } from '../src/cli/stream-analysis.js';
import type { StreamReport } from '../src/cli/stream-analysis.js';
import { qemu72PlainDir } from './support/paths.js';

let bytes: Uint8Array;
let report: StreamReport;
let vmdesc: { devices: VmdescNode[] };

before(() => {
  bytes = readInputFile(join(qemu72PlainDir, 'stream.bin.gz'));
  report = analyzeStream(bytes);
  vmdesc = findVmdesc(bytes)!;
});

/** Bytes a vmdesc node says its body takes (fields, then subsections with their headers). */
function vmdescBodySize(node: VmdescNode): number {
  let n = 0;
  for (const f of node.fields ?? []) n += fieldBytes(f);
  for (const s of node.subsections ?? []) n += 1 + 1 + (s.vmsd_name ?? '').length + 4 + vmdescBodySize(s);
  return n;
}

function fieldBytes(f: VmdescField): number {
  return f.size * (f.array_len ?? 1);
}

function netItem(): Extract<StreamItem, { type: 'device-state' }> {
  const it = report.items.find((i) => i.type === 'device-state' && i.header.idstr.endsWith('/virtio-net'));
  assert.ok(it && it.type === 'device-state');
  return it;
}

describe('QEMU 7.2 fixture plain-1q', () => {
  test('the whole stream decodes to the end, vmdesc included', () => {
    assert.equal(report.size, bytes.length);
    assert.equal(report.machine, 'pc-q35-7.2');
    const last = report.items[report.items.length - 1]!;
    assert.equal(last.type, 'vmdesc');
    assert.equal(last.offset + 5 + (last as { json: Uint8Array }).json.length, bytes.length);
    assert.equal(report.devices.length, vmdesc.devices.length);
  });

  test('every device section decodes to exactly the size its vmdesc entry gives', () => {
    for (const dev of vmdesc.devices) {
      const it = report.items.find((i) => i.type === 'device-state' && i.header.idstr === dev.name && i.header.instanceId === dev.instance_id);
      assert.ok(it && it.type === 'device-state', `section for ${dev.name} ${dev.instance_id}`);
      assert.equal(it.size, vmdescBodySize(dev), `${dev.name} instance ${dev.instance_id}`);
    }
  });

  test('the virtio-net blob, decoded with vmig\'s own description as a destination with 4 queue pairs would, is exactly the vmdesc "virtio" size', () => {
    const it = netItem();
    const node = vmdesc.devices.find((d) => d.name === it.header.idstr)!;
    const virtioSize = node.fields!.find((f) => f.name === 'virtio')!.size;
    const r = new ByteReader(bytes, 0, it.offset, it.offset + it.size);
    const state: Record<string, unknown> = {};
    // A real destination knows its own layout: 4 queue pairs (queues=4) give
    // QEMU's default of 2*4+2 = 10 MSI-X vectors; on pcie.0 the function keeps
    // a conventional 256-byte config space.
    loadState(r, netSectionVmsd('7.2'), state, 11, { msixVectors: 10, pciExpress: false, maxQueuePairs: 4 });
    assert.equal(r.offset - it.offset, virtioSize);
    assert.equal(virtioSize, 46333 - 5 - 1 - 4 - 1 - 23 - 4 - 4);
  });

  test('virtio-net values match rx-filter.json and the QEMU command line', () => {
    const rx = JSON.parse(readFileSync(join(qemu72PlainDir, 'rx-filter.json'), 'utf8')).return[0];
    const cmdline = readFileSync(join(qemu72PlainDir, 'cmdline.txt'), 'utf8');
    const net = netItem();
    const summary = report.devices.find((d) => d.idstr === net.header.idstr)!.net!;
    const n = summary.net as Record<string, unknown> & { mac_table: { macs: string[]; in_use: number; first_multi: number; multi_overflow: boolean; uni_overflow: boolean } };
    // MAC: -device …,mac=52:54:00:12:34:56, and query-rx-filter's main-mac
    assert.match(cmdline, /mac=52:54:00:12:34:56/);
    assert.equal(n.mac, rx['main-mac']);
    // rx-mode
    assert.equal(n.promisc, rx.promiscuous);
    assert.equal(rx.unicast, n.nouni ? 'none' : n.alluni ? 'all' : 'normal');
    assert.equal(rx.multicast, n.nomulti ? 'none' : n.allmulti ? 'all' : 'normal');
    // QEMU's query-rx-filter reports broadcast-allowed = n->nobcast (a known inversion).
    assert.equal(rx['broadcast-allowed'], n.nobcast);
    assert.equal(rx['multicast-overflow'], n.mac_table.multi_overflow);
    assert.equal(rx['unicast-overflow'], n.mac_table.uni_overflow);
    // Filter tables: QEMU lists them last-first (it prepends while walking the table).
    const uni = n.mac_table.macs.slice(0, n.mac_table.first_multi);
    const multi = n.mac_table.macs.slice(n.mac_table.first_multi);
    assert.deepEqual([...uni].reverse(), rx['unicast-table']);
    assert.deepEqual([...multi].reverse(), rx['multicast-table']);
    assert.equal(n.mac_table.in_use, 3);
    // VLAN filter: CTRL_VLAN negotiated, so the table is authoritative.
    assert.equal(rx.vlan, 'normal');
    assert.deepEqual(n.vlans, rx['vlan-table']);
    // Queue pairs: -netdev tap,queues=4 gives max_queue_pairs 4; mq is not on, so one is in use.
    assert.match(cmdline, /queues=4/);
    assert.doesNotMatch(cmdline, /mq=on/);
    assert.equal(n.max_queue_pairs, 4);
    assert.equal(n.curr_queue_pairs, 1);
    // Three queues with rings (rx, tx, ctrl) and a driver that reached DRIVER_OK.
    const v = summary.virtio as { status: number; queues: { index: number; num: number }[] };
    assert.equal(v.status & 0x0f, 0x0f);
    assert.deepEqual(v.queues.map((q) => [q.index, q.num]), [[0, 256], [1, 256], [2, 64]]);
  });

  test('re-encoding the decoded virtio-net section gives the same bytes', () => {
    const it = netItem();
    const w = new ByteWriter();
    saveState(w, netSectionVmsd('7.2'), it.state);
    assert.deepEqual(w.finish(), bytes.subarray(it.offset, it.offset + it.size));
    const device = (it.state as VirtioSavedState).device as NetSavedState;
    assert.equal(device.max_queue_pairs, 4);
  });

  test('re-encoding every decoded item gives the whole stream byte for byte', () => {
    const out = encodeItems(report.items, analysisResolver(vmdesc as never));
    assert.equal(out.length, bytes.length);
    assert.ok(Buffer.from(out.buffer, out.byteOffset, out.length).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)));
  });

  test('every strict prefix of every device section fails with the typed truncation error', () => {
    // Each device section, framed as a stream of its own (header, configuration,
    // the section): sections are independent, so this covers every prefix of the
    // device part without re-decoding 70 MB of RAM per prefix.
    const resolve = analysisResolver(vmdesc as never);
    const head = bytes.subarray(0, report.items.find((i) => i.type === 'section')!.offset);
    const sections = report.sections.filter((s) => s.type === 'full');
    let checked = 0;
    for (const s of sections) {
      const buf = new Uint8Array(head.length + s.size);
      buf.set(head);
      buf.set(bytes.subarray(s.offset, s.offset + s.size), head.length);
      // The complete section decodes.
      const whole = new StreamDecoder({ resolve });
      whole.push(buf);
      for (let k = head.length; k < buf.length; k++) {
        const d = new StreamDecoder({ resolve });
        d.push(buf.subarray(0, k));
        assert.throws(() => d.end(), (err: unknown) => err instanceof TruncatedError && err.code === 'ERR_STREAM_TRUNCATED', `${s.idstr} cut after ${k - head.length} bytes`);
        checked++;
      }
    }
    assert.equal(checked, sections.reduce((n, s) => n + s.size, 0));
  });
});

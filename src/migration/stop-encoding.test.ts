/**
 * The stop's device encoding and its rehearsal (stop-encoding.ts): the
 * sections the stop writes, and a rehearsal that reads guest RAM and the
 * device without changing either, never touching the link.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NetHarness } from '../../test/support/virtio-net-harness.js';
import type { Vcpu } from '../guest/index.vmm.js';
import { QEMU_VM_EOF, StreamDecoder } from '../stream/index.js';
import type { SectionCodec } from '../stream/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import type { VmState, Vmsd } from '../vmstate/index.js';
import type { SectionHeader, StreamEncoder } from '../stream/index.js';
import { StreamEncoder as Encoder } from '../stream/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import type { MigratableVm } from './migration-types.js';
import { netDeltaVmsd } from './early-net.js';
import { encodeDeviceSections, rehearsalStreamHead, rehearseStopEncoding } from './stop-encoding.js';
import { VCPU_SECTION_IDSTR, vcpuSectionVmsd } from './vmig-sections.js';
import type { SectionWriter } from './stop-encoding.js';

const IDS = { vcpu: 10, nic: 40, ram: { sectionId: 2, version: 4 } };

/** A VM of two vCPUs (test doubles: a clock and pending interrupts) around a real device and RAM. */
function vmWith(h: NetHarness): MigratableVm {
  const vcpu = (index: number) => ({ index, guestNowNs: () => 1_000_000n * BigInt(index + 1), pendingInterrupts: 0n }) as unknown as Vcpu;
  return {
    memory: h.memory,
    machineType: 'pc-q35-11.1',
    vcpus: [vcpu(0), vcpu(1)],
    nic: h.device,
    nicIdstr: '0000:00:02.0/virtio-net',
  } as unknown as MigratableVm;
}

function harness(): NetHarness {
  const h = new NetHarness({ loopback: { queuePairs: 2 }, properties: { mq: true }, name: 'net0' });
  h.start();
  for (let p = 0; p < 2; p++) h.postRx(p, 4);
  return h;
}

function recorder(): { write: SectionWriter; headers: SectionHeader[] } {
  const headers: SectionHeader[] = [];
  // Framing only: which sections, in which order (the bodies are the vmstate codec's, tested elsewhere).
  const write: SectionWriter = (enc: StreamEncoder, hd) => {
    headers.push(hd);
    enc.sectionHeader(hd);
    enc.footer(hd.sectionId);
  };
  return { write, headers };
}

test('the stop writes one section per vCPU, then virtio-net in full (classic) or as a delta (early), then EOF', () => {
  const h = harness();
  const vm = vmWith(h);
  const classic = recorder();
  const enc = new Encoder();
  const out = encodeDeviceSections(enc, vm, IDS, undefined, classic.write);
  assert.deepEqual(classic.headers.map((x) => [x.idstr, x.instanceId, x.sectionId]), [['vmig-vcpu', 0, 10], ['vmig-vcpu', 1, 11], ['0000:00:02.0/virtio-net', 0, 40]]);
  assert.deepEqual(out.netState, h.device.saveState());
  assert.equal(out.delta, undefined);
  const bytes = enc.take();
  assert.equal(bytes.at(-1), QEMU_VM_EOF, 'EOF ends it');

  const early = recorder();
  const sent = h.device.saveState() as VirtioSavedState;
  const out2 = encodeDeviceSections(new Encoder(), vm, IDS, { policy: 'per-delta', sent }, early.write);
  assert.deepEqual(early.headers.map((x) => x.idstr), ['vmig-vcpu', 'vmig-vcpu', '0000:00:02.0/virtio-net-delta']);
  assert.deepEqual(out2.delta?.changed, [], 'nothing changed since the early section');
  assert.equal(out2.delta?.fullReload, false);
});

test('a rehearsal of the stop changes nothing: guest RAM, the dirty log and the device are as before, and the link is never used', async () => {
  const h = harness();
  const vm = vmWith(h);
  for (let i = 0; i < 64; i++) h.memory.bytes[i * 4096 * 3 + 7] = i + 1;
  h.memory.dirty.fetchAndClear();
  h.memory.bytes[4096 * 5] = 0xaa;
  h.memory.dirty.markPage(5);
  const ram = h.memory.bytes.slice();
  const device = h.device.saveState();
  const sent = h.device.saveState() as VirtioSavedState;
  // The link getter throws: sending anything would fail the rehearsal.
  await rehearseStopEncoding(vm, IDS, undefined, { runs: 3 });
  await rehearseStopEncoding(vm, IDS, { policy: 'rfc', sent }, { runs: 3 });
  assert.deepEqual(h.memory.bytes, ram);
  assert.deepEqual(h.device.saveState(), device);
  assert.deepEqual([...h.memory.dirty.fetchAndClear()], [5], 'the dirty log still holds exactly what the guest dirtied');
});

test('a rehearsal ends early when told to', async () => {
  const h = harness();
  let asked = 0;
  await rehearseStopEncoding(vmWith(h), IDS, undefined, { runs: 100, stop: () => ++asked > 2 });
  assert.equal(asked, 3);
});

test('each full rehearsal run hands over the stream tail it wrote, which decodes as one: END pages, the vCPUs, virtio-net, EOF', async () => {
  const h = harness();
  const vm = vmWith(h);
  const tails: Uint8Array[] = [];
  await rehearseStopEncoding(vm, IDS, { policy: 'per-delta', sent: h.device.saveState() }, { runs: 3, onEncoded: (t) => tails.push(t) });
  assert.equal(tails.length, 3, 'one per full run (the piece-by-piece first pass hands over nothing)');
  for (const tail of tails) {
    const codec = (vmsd: Vmsd): SectionCodec => ({
      load: (r, hd) => {
        const st: VmState = {};
        loadState(r, vmsd, st, hd.version, {});
        return st;
      },
      save: (w, st) => saveState(w, vmsd, st, {}),
    });
    const d = new StreamDecoder({
      footers: 'auto',
      configuration: 'absent',
      resolve: (hd) => (hd.idstr === VCPU_SECTION_IDSTR ? codec(vcpuSectionVmsd) : hd.idstr.endsWith('-delta') ? codec(netDeltaVmsd) : undefined),
    });
    // What a destination puts before a rehearsed tail.
    d.push(rehearsalStreamHead(IDS.ram, h.memory.size));
    const items = d.push(tail);
    const sections = items.filter((i) => i.type === 'device-state').map((i) => (i as { header: SectionHeader }).header.idstr);
    assert.deepEqual(sections, ['vmig-vcpu', 'vmig-vcpu', '0000:00:02.0/virtio-net-delta']);
    assert.equal(items[0]?.type, 'section');
    assert.equal(items.at(-1)?.type, 'eof');
  }
});

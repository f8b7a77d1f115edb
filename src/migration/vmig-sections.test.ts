import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ByteReader, ByteWriter } from '../core/index.js';
import { loadState, saveWithVmdesc } from '../vmstate/index.js';
import { guestMismatch, guestSectionVmsd, vcpuSectionVmsd } from './vmig-sections.js';

const here = { firmwareBuildId: 0x10001, ramLayoutVersion: 1, vcpuCount: 2, ramBytes: 256n << 20n };

test('the destination takes only a guest it can run', () => {
  assert.equal(guestMismatch(here, { ...here }), undefined);
  assert.match(guestMismatch({ ...here, firmwareBuildId: 0x10002 }, here)!, /firmware build 0x10002, this VMM carries 0x10001/);
  assert.match(guestMismatch({ ...here, ramLayoutVersion: 2 }, here)!, /layout version 2/);
  assert.match(guestMismatch({ ...here, vcpuCount: 4 }, here)!, /4 vCPU\(s\), this VM 2 \(-smp must match\)/);
  assert.match(guestMismatch({ ...here, ramBytes: 128n << 20n }, here)!, /-m must match/);
});

test('vmig sections round-trip and describe themselves in the vmdesc', () => {
  for (const [vmsd, state] of [
    [guestSectionVmsd, { ...here }],
    [vcpuSectionVmsd, { guestClockNs: 123_456_789_012n, irqPending: (1n << 63n) | 5n }],
  ] as const) {
    const w = new ByteWriter();
    const json = saveWithVmdesc(w, vmsd, { ...state }, vmsd.name, 0);
    const out: Record<string, unknown> = {};
    loadState(new ByteReader(w.finish()), vmsd, out, 1);
    assert.deepEqual(out, state);
    assert.equal(json.vmsd_name, vmsd.name);
    assert.deepEqual((json.fields as { name: string }[]).map((f) => f.name), vmsd.fields.map((f) => f.name));
  }
});

/**
 * vmdesc JSON (research/qemu-wire-format.md §1.8): what saveState emits when
 * given a JSON object, how formatQemuJson prints it, and descriptions rebuilt
 * from a vmdesc (vmsdFromVmdesc).
 *
 * The QEMU 7.2 goldens below are the device bodies and the vmdesc text of
 * ../shared/fixtures/qemu-7.2/plain-1q/stream.bin.gz (file offsets noted),
 * with descriptions transcribed from QEMU 7.2's sources (hw/timer/hpet.c,
 * hw/nvram/fw_cfg.c, hw/dma/i8257.c, softmmu/cpu-timers.c).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, ByteWriter, MalformedError, VmigError } from '../core/index.js';
import type { CustomCodec, Field, VmState, Vmsd } from './description.js';
import { vmdescTypeName } from './description.js';
import { decodeState, loadState, saveState } from './interpreter.js';
import type { JsonObject } from './interpreter.js';
import { formatQemuJson, vmsdFromVmdesc } from './vmdesc.js';
import type { VmdescNode } from './vmdesc.js';

const hexBytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const u8f = (name: string, extra: Partial<Field> = {}): Field => ({ name, type: { kind: 'int', type: 'uint8' }, ...extra });

/** Save `state` the way QEMU's vmstate_save does for a device entry: name and instance_id, then what vmstate_save_state adds. */
function saveDevice(vmsd: Vmsd, state: VmState, name = vmsd.name): { bytes: Uint8Array; json: JsonObject } {
  const w = new ByteWriter();
  const json: JsonObject = { name, instance_id: 0 };
  saveState(w, vmsd, state, {}, json);
  return { bytes: w.finish(), json };
}

function jsonOf(vmsd: Vmsd, state: VmState, version?: number): JsonObject {
  const json: JsonObject = {};
  saveState(new ByteWriter(), vmsd, state, {}, json, version);
  return json;
}

// ------------------------------------------------------------ QEMU 7.2 devices

const timerVmsd: Vmsd = {
  name: 'timer',
  version: 2,
  minimumVersion: 1,
  fields: [
    { name: 'cpu_ticks_offset', type: { kind: 'int', type: 'int64' } },
    { name: 'unused', type: { kind: 'unused', size: 8 } },
    { name: 'cpu_clock_offset', version: 2, type: { kind: 'int', type: 'int64' } },
  ],
};

const hpetTimerVmsd: Vmsd = {
  name: 'hpet_timer',
  version: 1,
  minimumVersion: 1,
  fields: [
    u8f('tn'),
    { name: 'config', type: { kind: 'int', type: 'uint64' } },
    { name: 'cmp', type: { kind: 'int', type: 'uint64' } },
    { name: 'fsb', type: { kind: 'int', type: 'uint64' } },
    { name: 'period', type: { kind: 'int', type: 'uint64' } },
    u8f('wrap_flag'),
    { name: 'qemu_timer', type: { kind: 'timer' } },
  ],
};

const hpetVmsd: Vmsd = {
  name: 'hpet',
  version: 2,
  minimumVersion: 1,
  fields: [
    { name: 'config', type: { kind: 'int', type: 'uint64' } },
    { name: 'isr', type: { kind: 'int', type: 'uint64' } },
    { name: 'hpet_counter', type: { kind: 'int', type: 'uint64' } },
    u8f('num_timers', { version: 2 }),
    { name: 'num_timers in range', type: { kind: 'validate', check: (s) => ((s.num_timers as number) >= 3 && (s.num_timers as number) <= 32 ? undefined : 'bad num_timers') } },
    { name: 'timer', count: { field: ['num_timers'] }, type: { kind: 'struct', vmsd: hpetTimerVmsd } },
  ],
  subsections: [{ name: 'hpet/offset', version: 1, minimumVersion: 1, fields: [{ name: 'hpet_offset', type: { kind: 'int', type: 'uint64' } }], needed: (s) => s.hpet_offset !== undefined }],
};

const fwCfgVmsd: Vmsd = {
  name: 'fw_cfg',
  version: 2,
  minimumVersion: 1,
  fields: [
    { name: 'cur_entry', type: { kind: 'int', type: 'uint16' } },
    // VMSTATE_UINT16_HACK(cur_offset, FWCfgState, is_version_1)
    { name: 'cur_offset', path: ['cur_offset_v1'], type: { kind: 'int', type: 'uint16' }, exists: (_s, v) => v === 1 },
    // VMSTATE_UINT32_V(cur_offset, FWCfgState, 2)
    { name: 'cur_offset', version: 2, type: { kind: 'int', type: 'uint32' } },
  ],
  subsections: [
    { name: 'fw_cfg/dma', version: 0, fields: [{ name: 'dma_addr', type: { kind: 'int', type: 'uint64' } }], needed: (s) => s.dma_addr !== undefined },
    {
      name: 'fw_cfg/acpi_mr',
      version: 1,
      minimumVersion: 1,
      fields: [
        { name: 'table_mr_size', type: { kind: 'int', type: 'uint64' } },
        { name: 'linker_mr_size', type: { kind: 'int', type: 'uint64' } },
        { name: 'rsdp_mr_size', type: { kind: 'int', type: 'uint64' } },
      ],
      needed: (s) => s.table_mr_size !== undefined,
    },
  ],
};

const dmaRegsVmsd: Vmsd = {
  name: 'dma_regs',
  version: 1,
  minimumVersion: 1,
  fields: [
    { name: 'now', count: 2, type: { kind: 'int', type: 'int32' } },
    { name: 'base', count: 2, type: { kind: 'int', type: 'uint16' } },
    u8f('mode'),
    u8f('page'),
    u8f('pageh'),
    u8f('dack'),
    u8f('eop'),
  ],
};

const dmaVmsd: Vmsd = {
  name: 'dma',
  version: 1,
  minimumVersion: 1,
  fields: [u8f('command'), u8f('mask'), u8f('flip_flop'), { name: 'dshift', type: { kind: 'int', type: 'int32' } }, { name: 'regs', count: 4, type: { kind: 'struct', vmsd: dmaRegsVmsd } }],
};

interface Golden {
  vmsd: Vmsd;
  version: number;
  body: Uint8Array;
  text: string;
}

const GOLDEN: Record<string, Golden> = {
  // FULL section at 0x436f745, body at 0x436f758.
  timer: {
    vmsd: timerVmsd,
    version: 2,
    body: hexBytes('0000000478b3bef8 0000000000000000 00000001d41a627e'),
    text: '{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "cpu_ticks_offset", "type": "int64", "size": 8}, {"name": "unused", "type": "unused_buffer", "size": 8}, {"name": "cpu_clock_offset", "type": "int64", "size": 8}]}',
  },
  // FULL section at 0x4374ea0, body at 0x4374eb2.
  hpet: {
    vmsd: hpetVmsd,
    version: 2,
    body: hexBytes(`
      0000000000000003 0000000000000000 0000000018154fd6 03
      00 00ff010400000138 0000000003d22bad 0000000000000000 0000000000061a80 00 ffffffffffffffff
      01 00ff010400000130 0000000008a8d8f9 0000000000000000 0000000000000000 00 ffffffffffffffff
      02 00ff010400000030 000000001296d9da 0000000000000000 0000000000000000 00 ffffffffffffffff
      05 0b 687065742f6f6666736574 00000001 ffffffff1cbabbe1`),
    text: '{"name": "hpet", "instance_id": 0, "vmsd_name": "hpet", "version": 2, "fields": [{"name": "config", "type": "uint64", "size": 8}, {"name": "isr", "type": "uint64", "size": 8}, {"name": "hpet_counter", "type": "uint64", "size": 8}, {"name": "num_timers", "type": "uint8", "size": 1}, {"name": "timer", "array_len": 3, "type": "struct", "struct": {"vmsd_name": "hpet_timer", "version": 1, "fields": [{"name": "tn", "type": "uint8", "size": 1}, {"name": "config", "type": "uint64", "size": 8}, {"name": "cmp", "type": "uint64", "size": 8}, {"name": "fsb", "type": "uint64", "size": 8}, {"name": "period", "type": "uint64", "size": 8}, {"name": "wrap_flag", "type": "uint8", "size": 1}, {"name": "qemu_timer", "type": "timer", "size": 8}]}, "size": 42}], "subsections": [{"vmsd_name": "hpet/offset", "version": 1, "fields": [{"name": "hpet_offset", "type": "uint64", "size": 8}]}]}',
  },
  // FULL section at 0x43700aa, body at 0x43700be.
  fw_cfg: {
    vmsd: fwCfgVmsd,
    version: 2,
    body: hexBytes(`
      0015 0000001e
      05 0a 66775f6366672f646d61 00000000 0000000000000000
      05 0e 66775f6366672f616370695f6d72 00000001 0000000000020000 0000000000001000 0000000000000014`),
    text: '{"name": "fw_cfg", "instance_id": 0, "vmsd_name": "fw_cfg", "version": 2, "fields": [{"name": "cur_entry", "type": "uint16", "size": 2}, {"name": "cur_offset[1]", "type": "uint32", "size": 4}], "subsections": [{"vmsd_name": "fw_cfg/dma", "version": 0, "fields": [{"name": "dma_addr", "type": "uint64", "size": 8}]}, {"vmsd_name": "fw_cfg/acpi_mr", "version": 1, "fields": [{"name": "table_mr_size", "type": "uint64", "size": 8}, {"name": "linker_mr_size", "type": "uint64", "size": 8}, {"name": "rsdp_mr_size", "type": "uint64", "size": 8}]}]}',
  },
  // FULL section at 0x43702a0, body at 0x43702b1.
  dma: {
    vmsd: dmaVmsd,
    version: 1,
    body: hexBytes(`00 ff 00 00000000 ${'00'.repeat(17 * 4)}`),
    text: '{"name": "dma", "instance_id": 0, "vmsd_name": "dma", "version": 1, "fields": [{"name": "command", "type": "uint8", "size": 1}, {"name": "mask", "type": "uint8", "size": 1}, {"name": "flip_flop", "type": "uint8", "size": 1}, {"name": "dshift", "type": "int32", "size": 4}, {"name": "regs", "array_len": 4, "type": "struct", "struct": {"vmsd_name": "dma_regs", "version": 1, "fields": [{"name": "now", "array_len": 2, "type": "int32", "size": 4}, {"name": "base", "array_len": 2, "type": "uint16", "size": 2}, {"name": "mode", "type": "uint8", "size": 1}, {"name": "page", "type": "uint8", "size": 1}, {"name": "pageh", "type": "uint8", "size": 1}, {"name": "dack", "type": "uint8", "size": 1}, {"name": "eop", "type": "uint8", "size": 1}]}, "size": 17}]}',
  },
};

describe('QEMU 7.2 device sections', () => {
  for (const [name, g] of Object.entries(GOLDEN)) {
    test(`the ${name} body QEMU 7.2 sent decodes completely and re-encodes to the same bytes`, () => {
      const state = decodeState(g.body, g.vmsd, g.version);
      const w = new ByteWriter();
      saveState(w, g.vmsd, state);
      assert.deepEqual(w.finish(), g.body);
    });

    test(`the vmdesc entry for ${name} is exactly the text QEMU 7.2 wrote`, () => {
      const state = decodeState(g.body, g.vmsd, g.version);
      const { json } = saveDevice(g.vmsd, state);
      assert.equal(formatQemuJson(json), g.text);
      assert.deepEqual(json, JSON.parse(g.text));
    });

    test(`a description built from QEMU's ${name} vmdesc entry loads QEMU's bytes and saves them back identically`, () => {
      const built = vmsdFromVmdesc(JSON.parse(g.text) as VmdescNode);
      const state = decodeState(g.body, built, g.version);
      const w = new ByteWriter();
      saveState(w, built, state);
      assert.deepEqual(w.finish(), g.body);
    });
  }

  test('the hpet values are where the description puts them', () => {
    const s = decodeState(GOLDEN.hpet!.body, hpetVmsd, 2);
    assert.equal(s.config, 3n);
    assert.equal(s.hpet_counter, 0x18154fd6n);
    assert.equal(s.num_timers, 3);
    const timers = s.timer as VmState[];
    assert.deepEqual(timers.map((t) => t.tn), [0, 1, 2]);
    assert.equal(timers[0]!.period, 0x61a80n);
    assert.equal(timers[2]!.qemu_timer, -1n);
    assert.equal(s.hpet_offset, 0xffffffff1cbabbe1n);
  });

  test('fw_cfg loads the version-2 cur_offset as uint32 and subsection fw_cfg/dma at version 0', () => {
    const s = decodeState(GOLDEN.fw_cfg!.body, fwCfgVmsd, 2);
    assert.deepEqual(s, { cur_entry: 0x15, cur_offset: 0x1e, dma_addr: 0n, table_mr_size: 0x20000n, linker_mr_size: 0x1000n, rsdp_mr_size: 0x14n });
  });

  test('values loaded with a description built from a vmdesc land under the vmdesc names, subsections under their names', () => {
    const built = vmsdFromVmdesc(JSON.parse(GOLDEN.fw_cfg!.text) as VmdescNode);
    assert.deepEqual(decodeState(GOLDEN.fw_cfg!.body, built, 2), {
      cur_entry: 0x15,
      'cur_offset[1]': 0x1e,
      'fw_cfg/dma': { dma_addr: 0n },
      'fw_cfg/acpi_mr': { table_mr_size: 0x20000n, linker_mr_size: 0x1000n, rsdp_mr_size: 0x14n },
    });
    const hpet = decodeState(GOLDEN.hpet!.body, vmsdFromVmdesc(JSON.parse(GOLDEN.hpet!.text) as VmdescNode), 2);
    const t0 = (hpet.timer as VmState[])[0]!;
    assert.equal(t0.cmp, 0x3d22badn);
    // A timer is opaque to the vmdesc reader: 8 raw bytes.
    assert.deepEqual(t0.qemu_timer, new Uint8Array(8).fill(0xff));
  });
});

// ------------------------------------------------------------ emission rules

describe('vmdesc emission', () => {
  test('a description emits vmsd_name, version and fields with name, type and size, in QEMU\'s key order', () => {
    const vmsd: Vmsd = { name: 'dev', version: 2, fields: [{ name: 'a', type: { kind: 'int', type: 'uint32' } }, { name: 'b', type: { kind: 'bool' } }] };
    const json = jsonOf(vmsd, { a: 1, b: true });
    assert.equal(formatQemuJson(json), '{"vmsd_name": "dev", "version": 2, "fields": [{"name": "a", "type": "uint32", "size": 4}, {"name": "b", "type": "bool", "size": 1}]}');
    assert.equal('subsections' in json, false);
  });

  test('version is the version saved at, and fields gated out at that version have no entry', () => {
    const vmsd: Vmsd = { name: 'dev', version: 3, fields: [u8f('a'), u8f('b', { version: 3 }), u8f('c', { exists: () => false })] };
    const json = jsonOf(vmsd, { a: 1, b: 2 }, 2);
    assert.deepEqual(json, { vmsd_name: 'dev', version: 2, fields: [{ name: 'a', type: 'uint8', size: 1 }] });
  });

  test('a name used by several fields gets the suffix "[k]", k counting every same-named field before it', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [u8f('unused', { path: ['u0'] }), u8f('x'), u8f('unused', { path: ['u1'], exists: () => false }), u8f('unused', { path: ['u2'] })],
    };
    const names = (jsonOf(vmsd, { u0: 0, x: 1, u2: 2 }).fields as JsonObject[]).map((f) => f.name);
    assert.deepEqual(names, ['unused[0]', 'x', 'unused[2]']);
  });

  test('a compressible array is one entry with array_len and the size of one element', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'regs', count: 4, type: { kind: 'int', type: 'uint16' } }] };
    assert.deepEqual(jsonOf(vmsd, { regs: [1, 2, 3, 4] }).fields, [{ name: 'regs', array_len: 4, type: 'uint16', size: 2 }]);
  });

  test('an array of one element is an entry without array_len, and an array of none has no entry', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'one', count: 1, type: { kind: 'int', type: 'uint16' } }, { name: 'none', count: 0, type: { kind: 'int', type: 'uint16' } }] };
    assert.deepEqual(jsonOf(vmsd, { one: [1], none: [] }).fields, [{ name: 'one', type: 'uint16', size: 2 }]);
  });

  test('an array field with an exists predicate is not compressible: one entry per element with index', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'q', count: 2, type: { kind: 'int', type: 'uint32' }, exists: () => true }] };
    assert.deepEqual(jsonOf(vmsd, { q: [1, 2] }).fields, [
      { name: 'q', index: 0, type: 'uint32', size: 4 },
      { name: 'q', index: 1, type: 'uint32', size: 4 },
    ]);
  });

  test('an array of structs with subsections is not compressible and each element carries its own struct and size', () => {
    const el: Vmsd = {
      name: 'el',
      version: 1,
      fields: [u8f('v')],
      subsections: [{ name: 'el/extra', version: 1, fields: [{ name: 'w', type: { kind: 'int', type: 'uint16' } }], needed: (s) => s.w !== undefined }],
    };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'els', count: 2, type: { kind: 'struct', vmsd: el } }] };
    const json = jsonOf(vmsd, { els: [{ v: 1 }, { v: 2, w: 3 }] });
    // els[1]: v (1) + 05 + len (1) + "el/extra" (8) + be32 version (4) + w (2) = 17 bytes.
    assert.equal(
      formatQemuJson(json),
      '{"vmsd_name": "dev", "version": 1, "fields": [' +
        '{"name": "els", "index": 0, "type": "struct", "struct": {"vmsd_name": "el", "version": 1, "fields": [{"name": "v", "type": "uint8", "size": 1}]}, "size": 1}, ' +
        '{"name": "els", "index": 1, "type": "struct", "struct": {"vmsd_name": "el", "version": 1, "fields": [{"name": "v", "type": "uint8", "size": 1}], "subsections": [{"vmsd_name": "el/extra", "version": 1, "fields": [{"name": "w", "type": "uint16", "size": 2}]}]}, "size": 17}]}',
    );
  });

  test('an array of structs whose fields include an exists predicate is not compressible', () => {
    const el: Vmsd = { name: 'el', version: 1, fields: [u8f('v', { exists: () => true })] };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'els', count: 2, type: { kind: 'struct', vmsd: el } }] };
    const fields = jsonOf(vmsd, { els: [{ v: 1 }, { v: 2 }] }).fields as JsonObject[];
    assert.deepEqual(fields.map((f) => [f.index, f.size]), [[0, 1], [1, 1]]);
  });

  test('type names follow QEMU\'s VMStateInfo names', () => {
    const codec: CustomCodec = { save: (w) => void w.u8(0), load: (r) => void r.u8() };
    const inner: Vmsd = { name: 'in', version: 1, fields: [] };
    const cases: [Field['type'], string][] = [
      [{ kind: 'int', type: 'int32', equal: true }, 'int32 equal'],
      [{ kind: 'int', type: 'uint32', equal: true }, 'uint32 equal'],
      [{ kind: 'int', type: 'uint8', equal: true }, 'uint8 equal'],
      [{ kind: 'int', type: 'uint16', equal: true }, 'uint16 equal'],
      [{ kind: 'int', type: 'uint64', equal: true }, 'int64 equal'],
      [{ kind: 'int', type: 'int32', le: true }, 'int32 le'],
      [{ kind: 'int', type: 'int8' }, 'int8'],
      [{ kind: 'int', type: 'uint64' }, 'uint64'],
      [{ kind: 'bool' }, 'bool'],
      [{ kind: 'timer' }, 'timer'],
      [{ kind: 'buffer', size: 2 }, 'buffer'],
      [{ kind: 'unused', size: 2 }, 'unused_buffer'],
      [{ kind: 'bitmap', bits: 64 }, 'bitmap'],
      [{ kind: 'struct', vmsd: inner }, 'struct'],
      [{ kind: 'struct', vmsd: inner, structVersion: 1 }, 'vstruct'],
      [{ kind: 'tmp', vmsd: inner }, 'tmp'],
      [{ kind: 'custom', info: 'pci config', codec }, 'pci config'],
    ];
    for (const [type, name] of cases) assert.equal(vmdescTypeName(type), name);
  });

  test('sizes are the bytes written: buffers, unused, bitmaps, timers and custom fields', () => {
    const codec: CustomCodec = { save: (w) => void w.u32le(7).u8(1), load: (r) => void r.skip(5) };
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'buf', type: { kind: 'buffer', size: 6 } },
        { name: 'unused', type: { kind: 'unused', size: 3 } },
        { name: 'bm', type: { kind: 'bitmap', bits: 65 } },
        { name: 't', type: { kind: 'timer' } },
        { name: 'cfg', type: { kind: 'custom', info: 'pci config', codec } },
        { name: 'ok', type: { kind: 'validate', check: () => undefined } },
      ],
    };
    const fields = jsonOf(vmsd, { buf: new Uint8Array(6), bm: new Uint8Array(16), t: -1n }).fields as JsonObject[];
    assert.deepEqual(fields, [
      { name: 'buf', type: 'buffer', size: 6 },
      { name: 'unused', type: 'unused_buffer', size: 3 },
      { name: 'bm', type: 'bitmap', size: 16 },
      { name: 't', type: 'timer', size: 8 },
      { name: 'cfg', type: 'pci config', size: 5 },
    ]);
  });

  test('a tmp field writes its child\'s vmsd_name, version and fields inside its own entry, then size', () => {
    const child: Vmsd = { name: 'dev/tmp', version: 3, fields: [{ name: 'x', type: { kind: 'int', type: 'uint16' } }], preSave: (s) => void (s.x = 5) };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'tmp', type: { kind: 'tmp', vmsd: child } }] };
    assert.equal(
      formatQemuJson(jsonOf(vmsd, {})),
      '{"vmsd_name": "dev", "version": 1, "fields": [{"name": "tmp", "type": "tmp", "vmsd_name": "dev/tmp", "version": 3, "fields": [{"name": "x", "type": "uint16", "size": 2}], "size": 2}]}',
    );
  });

  test('a vstruct field writes its description inline like tmp, with the struct version, and no "struct" object', () => {
    const inner: Vmsd = { name: 'in', version: 4, fields: [u8f('a'), u8f('b', { version: 4 })] };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'v', type: { kind: 'struct', vmsd: inner, structVersion: 2 } }] };
    assert.equal(
      formatQemuJson(jsonOf(vmsd, { v: { a: 1, b: 2 } })),
      '{"vmsd_name": "dev", "version": 1, "fields": [{"name": "v", "type": "vstruct", "vmsd_name": "in", "version": 2, "fields": [{"name": "a", "type": "uint8", "size": 1}], "size": 1}]}',
    );
  });

  test('subsections appear under "subsections" only when needed, in save order, nested ones inside their parent', () => {
    const deep: Vmsd = { name: 'dev/a/deep', version: 1, fields: [u8f('d')] };
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [],
      subsections: [
        { name: 'dev/a', version: 2, fields: [u8f('a')], subsections: [deep] },
        { name: 'dev/b', version: 1, fields: [u8f('b')], needed: () => false },
      ],
    };
    assert.equal(
      formatQemuJson(jsonOf(vmsd, { a: 1, d: 2 })),
      '{"vmsd_name": "dev", "version": 1, "fields": [], "subsections": [{"vmsd_name": "dev/a", "version": 2, "fields": [{"name": "a", "type": "uint8", "size": 1}], "subsections": [{"vmsd_name": "dev/a/deep", "version": 1, "fields": [{"name": "d", "type": "uint8", "size": 1}]}]}]}',
    );
  });

  test('saving with a vmdesc object writes the same bytes as saving without one', () => {
    const w1 = new ByteWriter();
    const w2 = new ByteWriter();
    const state = decodeState(GOLDEN.hpet!.body, hpetVmsd, 2);
    saveState(w1, hpetVmsd, state);
    saveState(w2, hpetVmsd, state, {}, {});
    assert.deepEqual(w1.finish(), w2.finish());
  });
});

describe('formatQemuJson', () => {
  test('formatQemuJson separates with ", " and ": " and prints no newlines', () => {
    assert.equal(formatQemuJson({ a: 1, b: [1, 2] }), '{"a": 1, "b": [1, 2]}');
    assert.equal(formatQemuJson({ o: { p: true, q: false, r: null } }), '{"o": {"p": true, "q": false, "r": null}}');
  });

  test('formatQemuJson prints empty containers, strings with escapes, bigints as numbers and drops undefined members', () => {
    assert.equal(formatQemuJson({}), '{}');
    assert.equal(formatQemuJson([]), '[]');
    assert.equal(formatQemuJson({ s: 'a"b\\c' }), '{"s": "a\\"b\\\\c"}');
    assert.equal(formatQemuJson({ n: 18446744073709551615n }), '{"n": 18446744073709551615}');
    assert.equal(formatQemuJson({ a: undefined, b: 2 }), '{"b": 2}');
    assert.equal(formatQemuJson([undefined, Number.NaN, -3]), '[null, null, -3]');
  });

  test('formatQemuJson reproduces QEMU\'s text of a parsed vmdesc byte for byte', () => {
    for (const g of Object.values(GOLDEN)) assert.equal(formatQemuJson(JSON.parse(g.text)), g.text);
  });
});

// ------------------------------------------------------------ vmsdFromVmdesc

describe('vmsdFromVmdesc', () => {
  const codec: CustomCodec = {
    save: (w, s) => void w.u16le(s.cfg as number),
    load: (r, s) => void (s.cfg = r.u16le()),
  };
  const el: Vmsd = { name: 'el', version: 1, fields: [u8f('v')], subsections: [{ name: 'el/x', version: 1, fields: [u8f('w')], needed: (s) => s.w !== undefined }] };
  const pt: Vmsd = { name: 'pt', version: 3, fields: [{ name: 'x', type: { kind: 'int', type: 'int16' } }, { name: 'y', count: 2, type: { kind: 'int', type: 'uint8' } }] };
  const tmpChild: Vmsd = { name: 'src/tmp', version: 1, fields: [{ name: 't', type: { kind: 'int', type: 'uint32' } }], preSave: (s) => void (s.t = 77) };
  const source: Vmsd = {
    name: 'src',
    version: 5,
    fields: [
      { name: 'i8', type: { kind: 'int', type: 'int8' } },
      { name: 'u64', type: { kind: 'int', type: 'uint64' } },
      { name: 'eq', type: { kind: 'int', type: 'uint32', equal: true } },
      { name: 'le', type: { kind: 'int', type: 'int32', le: true } },
      { name: 'flag', type: { kind: 'bool' } },
      { name: 'n', type: { kind: 'int', type: 'uint8' } },
      { name: 'buf', type: { kind: 'buffer', size: { field: ['n'], multiply: 2 } } },
      { name: 'unused', type: { kind: 'unused', size: 2 } },
      { name: 'bm', type: { kind: 'bitmap', bits: 70 } },
      { name: 'pts', count: 2, type: { kind: 'struct', vmsd: pt } },
      { name: 'els', count: 2, type: { kind: 'struct', vmsd: el } },
      { name: 'cond', count: 2, type: { kind: 'int', type: 'uint16' }, exists: (s) => s.flag === true },
      { name: 'cfg', type: { kind: 'custom', info: 'pci config', codec } },
      { name: 'tmp', type: { kind: 'tmp', vmsd: tmpChild } },
      { name: 'unused', path: ['unused2'], type: { kind: 'unused', size: 1 } },
    ],
    subsections: [
      { name: 'src/a', version: 2, fields: [u8f('sa')], subsections: [{ name: 'src/a/b', version: 1, fields: [u8f('sb')] }, { name: 'src/a/empty', version: 1, fields: [] }] },
      { name: 'src/c', version: 1, fields: [u8f('sc')], needed: () => false },
    ],
  };
  const state: VmState = {
    i8: -3,
    u64: 0xfedcba9876543210n,
    eq: 7,
    le: 4,
    flag: true,
    n: 2,
    buf: Uint8Array.from([1, 2, 3, 4]),
    bm: Uint8Array.from([0xff, 0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 0, 0, 0, 0, 0]),
    pts: [{ x: -1, y: [1, 2] }, { x: 2, y: [3, 4] }],
    els: [{ v: 1 }, { v: 2, w: 9 }],
    cond: [0x1111, 0x2222],
    cfg: 0xabcd,
    sa: 5,
    sb: 6,
  };

  function roundTrip(): { bytes: Uint8Array; json: JsonObject; built: Vmsd; loaded: VmState } {
    const w = new ByteWriter();
    const json: JsonObject = {};
    saveState(w, source, structuredClone(state), {}, json);
    const bytes = w.finish();
    const built = vmsdFromVmdesc(JSON.parse(formatQemuJson(json)) as VmdescNode);
    const loaded = decodeState(bytes, built, json.version as number);
    return { bytes, json, built, loaded };
  }

  test('a description built from a vmdesc loads the bytes its source saved, values under the vmdesc names', () => {
    const { loaded } = roundTrip();
    assert.deepEqual(loaded, {
      i8: -3,
      u64: 0xfedcba9876543210n,
      eq: 7,
      le: 4,
      flag: true,
      n: 2,
      buf: Uint8Array.from([1, 2, 3, 4]),
      'unused[0]': new Uint8Array(2),
      bm: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x3f]),
      pts: [{ x: -1, y: [1, 2] }, { x: 2, y: [3, 4] }],
      'els[0]': { v: 1 },
      'els[1]': { v: 2, 'el/x': { w: 9 } },
      'cond[0]': 0x1111,
      'cond[1]': 0x2222,
      cfg: Uint8Array.from([0xcd, 0xab]),
      tmp: { t: 77 },
      'unused[1]': new Uint8Array(1),
      'src/a': { sa: 5, 'src/a/b': { sb: 6 }, 'src/a/empty': {} },
    });
  });

  test('a description built from a vmdesc saves the loaded state back to the identical bytes, nested and empty subsections included', () => {
    const { bytes, built, loaded } = roundTrip();
    const w = new ByteWriter();
    saveState(w, built, loaded);
    assert.deepEqual(w.finish(), bytes);
  });

  test('vmsdFromVmdesc takes the name from vmsd_name, else name, and the version from the node', () => {
    const a = vmsdFromVmdesc({ name: '0000:00:02.0/virtio-net', vmsd_name: 'virtio-net', version: 11, fields: [] });
    assert.equal(a.name, 'virtio-net');
    assert.equal(a.version, 11);
    assert.equal(vmsdFromVmdesc({ name: 'x', fields: [] }).name, 'x');
  });

  test('a vmdesc field whose size disagrees with its int type is read as that many opaque bytes', () => {
    const built = vmsdFromVmdesc({ vmsd_name: 'd', version: 1, fields: [{ name: 'f', type: 'uint32', size: 2 }] });
    assert.deepEqual(decodeState(Uint8Array.from([1, 2]), built, 1), { f: Uint8Array.from([1, 2]) });
  });

  test('an opaque vmdesc field like QEMU\'s "virtio" blob is read as size raw bytes', () => {
    const built = vmsdFromVmdesc({ vmsd_name: 'virtio-net', version: 11, fields: [{ name: 'virtio', type: 'virtio', size: 5 }] });
    const r = new ByteReader(Uint8Array.from([1, 2, 3, 4, 5, 0x7e]));
    const s: VmState = {};
    loadState(r, built, s, 11);
    assert.deepEqual(s, { virtio: Uint8Array.from([1, 2, 3, 4, 5]) });
    assert.equal(r.peekU8(), 0x7e);
  });

  test('malformed vmdesc nodes are refused with MalformedError ERR_VMSTATE_BAD_VMDESC', () => {
    const bad: unknown[] = [
      { fields: [] },
      { vmsd_name: 'd', fields: [{ name: 'f', type: 'uint8' }] },
      { vmsd_name: 'd', fields: [{ name: 'f', type: 'uint8', size: -1 }] },
      { vmsd_name: 'd', fields: [{ name: 'f', type: 'uint8', size: 1.5 }] },
      { vmsd_name: 'd', fields: [{ type: 'uint8', size: 1 }] },
      { vmsd_name: 'd', fields: [{ name: 'f', size: 1 }] },
      { vmsd_name: 'd', fields: [{ name: 'f', type: 'uint8', size: 1, array_len: -2 }] },
      { vmsd_name: 'd', fields: [{ name: 'f', type: 'uint8', size: 1, array_len: 2 ** 21 }] },
      { vmsd_name: 'd', fields: [null] },
    ];
    for (const node of bad) {
      assert.throws(
        () => vmsdFromVmdesc(node as VmdescNode),
        (e: unknown) => e instanceof MalformedError && e instanceof VmigError && e.code === 'ERR_VMSTATE_BAD_VMDESC',
        JSON.stringify(node),
      );
    }
  });

  test('a vmdesc nested deeper than 32 levels is refused with ERR_VMSTATE_BAD_VMDESC', () => {
    let node: VmdescNode = { vmsd_name: 'leaf', version: 1, fields: [] };
    for (let i = 0; i < 40; i++) node = { vmsd_name: `n${i}`, version: 1, fields: [{ name: 's', type: 'struct', size: 0, struct: node }] };
    assert.throws(() => vmsdFromVmdesc(node), (e: unknown) => e instanceof VmigError && e.code === 'ERR_VMSTATE_BAD_VMDESC');
  });
});

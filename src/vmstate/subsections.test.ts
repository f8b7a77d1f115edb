/**
 * Subsections (research/qemu-wire-format.md §2.6): after the parent's fields,
 * each needed subsection in array order as 0x05 · str8 name · be32 version ·
 * body. On load: any order; a 0x05 whose name lacks the parent's prefix (or
 * whose length byte is shorter than "parent/") ends the list without being
 * consumed; a prefixed unknown name fails; the version is truncated to 8 bits.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, ByteWriter, MalformedError, TruncatedError } from '../core/index.js';
import type { VmState, Vmsd } from './description.js';
import { QEMU_VM_SUBSECTION, decodeState, encodeState, loadState, saveState } from './interpreter.js';
import { rejects } from './vmstate-test-kit.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const str8 = (s: string): number[] => [s.length, ...ascii(s)];
const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const enc = (vmsd: Vmsd, state: VmState): number[] => [...encodeState(vmsd, state)];


/** dev v1: a uint8; subsections dev/x (v2: x be16) and dev/y (v1: y u8), each needed when its value is set. */
function makeDev(log?: string[]): Vmsd {
  const subX: Vmsd = {
    name: 'dev/x',
    version: 2,
    fields: [{ name: 'x', type: { kind: 'int', type: 'uint16' } }],
    needed: (s) => s.x !== undefined,
    preLoad: () => log?.push('dev/x preLoad'),
    postLoad: (_s, v) => log?.push(`dev/x postLoad v${v}`),
  };
  const subY: Vmsd = {
    name: 'dev/y',
    version: 1,
    fields: [{ name: 'y', type: { kind: 'int', type: 'uint8' } }],
    needed: (s) => s.y !== undefined,
    preLoad: () => log?.push('dev/y preLoad'),
    postLoad: (_s, v) => log?.push(`dev/y postLoad v${v}`),
  };
  return { name: 'dev', version: 1, fields: [{ name: 'a', type: { kind: 'int', type: 'uint8' } }], subsections: [subX, subY] };
}

const X = [QEMU_VM_SUBSECTION, ...str8('dev/x'), ...be32(2), /* x */ 0x02, 0x03];
const Y = [QEMU_VM_SUBSECTION, ...str8('dev/y'), ...be32(1), /* y */ 0x04];

describe('subsection save', () => {
  test('QEMU_VM_SUBSECTION is 0x05', () => {
    assert.equal(QEMU_VM_SUBSECTION, 0x05);
  });

  test('needed subsections follow the parent\'s fields as 05 · str8 name · be32 version · body, in array order', () => {
    assert.deepEqual(X, [0x05, 0x05, 0x64, 0x65, 0x76, 0x2f, 0x78, 0x00, 0x00, 0x00, 0x02, 0x02, 0x03]);
    assert.deepEqual(enc(makeDev(), { a: 1, x: 0x0203, y: 4 }), [0x01, ...X, ...Y]);
  });

  test('a subsection whose needed returns false is not written at all', () => {
    assert.deepEqual(enc(makeDev(), { a: 1, y: 4 }), [0x01, ...Y]);
    assert.deepEqual(enc(makeDev(), { a: 1 }), [0x01]);
  });

  test('a subsection without needed is always written', () => {
    const vmsd: Vmsd = { name: 'p', version: 1, fields: [], subsections: [{ name: 'p/s', version: 3, fields: [] }] };
    assert.deepEqual(enc(vmsd, {}), [0x05, ...str8('p/s'), 0, 0, 0, 3]);
  });

  test('needed and the subsection body see the same state object as the parent, and ctx', () => {
    const vmsd: Vmsd = {
      name: 'p',
      version: 1,
      fields: [],
      subsections: [{ name: 'p/s', version: 1, fields: [{ name: 'v', type: { kind: 'int', type: 'uint8' } }], needed: (s, ctx) => ctx.send === true && s.v === 9 }],
    };
    const w = new ByteWriter();
    saveState(w, vmsd, { v: 9 }, { send: false });
    assert.deepEqual([...w.finish()], []);
    saveState(w, vmsd, { v: 9 }, { send: true });
    assert.deepEqual([...w.finish()], [0x05, ...str8('p/s'), 0, 0, 0, 1, 9]);
  });

  test('subsections are written after all parent fields, nested struct bodies included', () => {
    const inner: Vmsd = { name: 'in', version: 1, fields: [{ name: 'i', type: { kind: 'int', type: 'uint8' } }] };
    const vmsd: Vmsd = {
      name: 'p',
      version: 1,
      fields: [
        { name: 's', type: { kind: 'struct', vmsd: inner } },
        { name: 'b', type: { kind: 'int', type: 'uint8' } },
      ],
      subsections: [{ name: 'p/q', version: 1, fields: [{ name: 'q', type: { kind: 'int', type: 'uint8' } }] }],
    };
    assert.deepEqual(enc(vmsd, { s: { i: 1 }, b: 2, q: 3 }), [0x01, 0x02, 0x05, ...str8('p/q'), 0, 0, 0, 1, 0x03]);
  });
});

describe('subsection load', () => {
  test('subsections load into the parent\'s state object', () => {
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...X, ...Y]), makeDev()), { a: 1, x: 0x0203, y: 4 });
  });

  test('subsections load in any order, not only the order they are declared in', () => {
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...Y, ...X]), makeDev()), { a: 1, x: 0x0203, y: 4 });
  });

  test('an absent subsection is not loaded and its preLoad/postLoad hooks do not run', () => {
    const log: string[] = [];
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...Y]), makeDev(log)), { a: 1, y: 4 });
    assert.deepEqual(log, ['dev/y preLoad', 'dev/y postLoad v1']);
  });

  test('a 0x05 whose name lacks the parent\'s prefix ends the list silently without being consumed', () => {
    const other = [QEMU_VM_SUBSECTION, ...str8('cpu/x'), ...be32(1), 0x09];
    const r = new ByteReader(Uint8Array.from([0x01, ...Y, ...other]));
    const state: VmState = {};
    loadState(r, makeDev(), state, 1);
    assert.deepEqual(state, { a: 1, y: 4 });
    assert.equal(r.position, 1 + Y.length);
    assert.equal(r.peekU8(), 0x05);
  });

  test('a 0x05 whose length byte is below the parent name length + 1 ends the list without being consumed', () => {
    for (const len of [0, 1, 3]) {
      const r = new ByteReader(Uint8Array.from([0x01, 0x05, len, ...ascii('dev/x').slice(0, len), 0xee]));
      const state: VmState = {};
      loadState(r, makeDev(), state, 1);
      assert.deepEqual(state, { a: 1 }, `length byte ${len}`);
      assert.equal(r.position, 1, `length byte ${len}`);
    }
  });

  test('a byte other than 0x05 after the fields ends the subsection list', () => {
    const r = new ByteReader(Uint8Array.from([0x01, 0x7e, 0, 0, 0, 1]));
    loadState(r, makeDev(), {}, 1);
    assert.equal(r.position, 1);
  });

  test('a prefixed but unknown subsection name fails with MalformedError ERR_VMSTATE_UNKNOWN_SUBSECTION at the 0x05', () => {
    const bad = [QEMU_VM_SUBSECTION, ...str8('dev/z'), ...be32(1)];
    const err = rejects(() => decodeState(Uint8Array.from([0x01, ...bad]), makeDev()), MalformedError, 'ERR_VMSTATE_UNKNOWN_SUBSECTION');
    assert.equal(err.details.offset, 1);
    assert.equal(err.details.path, 'dev.subsections');
    assert.match(err.message, /dev\/z/);
  });

  test('the prefix test is a plain string prefix as in QEMU\'s strncmp, so "devx" is claimed by "dev" and fails as unknown', () => {
    const bad = [QEMU_VM_SUBSECTION, ...str8('devx'), ...be32(1)];
    rejects(() => decodeState(Uint8Array.from([0x01, ...bad]), makeDev()), MalformedError, 'ERR_VMSTATE_UNKNOWN_SUBSECTION');
  });

  test('the be32 subsection version is truncated to 8 bits: 0x101 loads as version 1', () => {
    const log: string[] = [];
    const y101 = [QEMU_VM_SUBSECTION, ...str8('dev/y'), ...be32(0x101), 0x04];
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...y101]), makeDev(log)), { a: 1, y: 4 });
    assert.deepEqual(log, ['dev/y preLoad', 'dev/y postLoad v1']);
    const yHigh = [QEMU_VM_SUBSECTION, ...str8('dev/y'), ...be32(0x7f000001), 0x04];
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...yHigh]), makeDev()), { a: 1, y: 4 });
  });

  test('a subsection version above its description\'s after truncation fails ERR_VMSTATE_VERSION_TOO_NEW', () => {
    const y102 = [QEMU_VM_SUBSECTION, ...str8('dev/y'), ...be32(0x102), 0x04];
    const err = rejects(() => decodeState(Uint8Array.from([0x01, ...y102]), makeDev()), MalformedError, 'ERR_VMSTATE_VERSION_TOO_NEW');
    assert.equal(err.details.path, 'dev.subsections');
  });

  test('a subsection version below its minimum fails ERR_VMSTATE_VERSION_TOO_OLD', () => {
    const dev = makeDev();
    dev.subsections![0]!.minimumVersion = 2;
    const x1 = [QEMU_VM_SUBSECTION, ...str8('dev/x'), ...be32(1), 0x02, 0x03];
    rejects(() => decodeState(Uint8Array.from([0x01, ...x1]), dev), MalformedError, 'ERR_VMSTATE_VERSION_TOO_OLD');
  });

  test('fields inside a subsection are gated by the subsection\'s stream version', () => {
    const vmsd: Vmsd = {
      name: 'p',
      version: 1,
      fields: [],
      subsections: [{ name: 'p/s', version: 3, fields: [{ name: 'old', type: { kind: 'int', type: 'uint8' } }, { name: 'new', version: 3, type: { kind: 'int', type: 'uint8' } }] }],
    };
    const v2 = [0x05, ...str8('p/s'), ...be32(2), 0x07];
    assert.deepEqual(decodeState(Uint8Array.from(v2), vmsd), { old: 7 });
    const v3 = [0x05, ...str8('p/s'), ...be32(3), 0x07, 0x08];
    assert.deepEqual(decodeState(Uint8Array.from(v3), vmsd), { old: 7, new: 8 });
  });

  test('an error inside a subsection body names the subsection and field in details.path', () => {
    const cut = [0x01, QEMU_VM_SUBSECTION, ...str8('dev/x'), ...be32(2), 0x02];
    const err = rejects(() => decodeState(Uint8Array.from(cut), makeDev()), TruncatedError, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.path, 'dev/x.x');
  });
});

describe('nested subsections and the prefix rule across levels', () => {
  function nested(): Vmsd {
    const deep: Vmsd = { name: 'dev/x/deep', version: 1, fields: [{ name: 'd', type: { kind: 'int', type: 'uint8' } }], needed: (s) => s.d !== undefined };
    const dev = makeDev();
    dev.subsections![0]!.subsections = [deep];
    return dev;
  }
  const DEEP = [QEMU_VM_SUBSECTION, ...str8('dev/x/deep'), ...be32(1), 0x0d];

  test('a subsection\'s own subsections follow its body, before the next sibling', () => {
    assert.deepEqual(enc(nested(), { a: 1, x: 0x0203, d: 0x0d, y: 4 }), [0x01, ...X, ...DEEP, ...Y]);
  });

  test('nested subsections load, and the inner level stops at a sibling of its parent', () => {
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...X, ...DEEP, ...Y]), nested()), { a: 1, x: 0x0203, d: 0x0d, y: 4 });
  });

  test('an outer sibling between an inner subsection\'s parent and its child is loaded by the outer level', () => {
    // dev/x stops at dev/y (not prefixed "dev/x"); dev loads dev/y; then dev/x/deep arrives at
    // dev's level, is prefixed "dev" but is not a subsection of dev, so it fails as unknown.
    rejects(() => decodeState(Uint8Array.from([0x01, ...X, ...Y, ...DEEP]), nested()), MalformedError, 'ERR_VMSTATE_UNKNOWN_SUBSECTION');
  });

  test('a sibling whose name extends an earlier sibling\'s name is claimed by that sibling and fails (QEMU prefix rule)', () => {
    const dev = nested();
    dev.subsections!.push({ name: 'dev/xx', version: 1, fields: [] });
    const XX = [QEMU_VM_SUBSECTION, ...str8('dev/xx'), ...be32(1)];
    rejects(() => decodeState(Uint8Array.from([0x01, ...X, ...XX]), dev), MalformedError, 'ERR_VMSTATE_UNKNOWN_SUBSECTION');
    assert.deepEqual(decodeState(Uint8Array.from([0x01, ...XX, ...X]), dev), { a: 1, x: 0x0203 });
  });

  test('a struct\'s subsections end at the parent\'s next field and at the parent\'s own subsections', () => {
    const inner: Vmsd = {
      name: 'in',
      version: 1,
      fields: [{ name: 'i', type: { kind: 'int', type: 'uint8' } }],
      subsections: [{ name: 'in/s', version: 1, fields: [{ name: 'j', type: { kind: 'int', type: 'uint8' } }], needed: (s) => s.j !== undefined }],
    };
    const vmsd: Vmsd = {
      name: 'p',
      version: 1,
      fields: [
        { name: 'st', type: { kind: 'struct', vmsd: inner } },
        { name: 'b', type: { kind: 'int', type: 'uint8' } },
      ],
      subsections: [{ name: 'p/q', version: 1, fields: [{ name: 'q', type: { kind: 'int', type: 'uint8' } }] }],
    };
    const wire = [/* st.i */ 0x01, 0x05, ...str8('in/s'), ...be32(1), /* st.j */ 0x02, /* b */ 0x03, 0x05, ...str8('p/q'), ...be32(1), /* q */ 0x04];
    const state = { st: { i: 1, j: 2 }, b: 3, q: 4 };
    assert.deepEqual(enc(vmsd, state), wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), state);
    // Without in/s, the struct's loader peeks p's next field (0x03) and stops.
    const wire2 = [0x01, 0x03, 0x05, ...str8('p/q'), ...be32(1), 0x04];
    assert.deepEqual(decodeState(Uint8Array.from(wire2), vmsd), { st: { i: 1 }, b: 3, q: 4 });
  });

  test('a struct followed by a parent field that starts with 0x05 is not mistaken for a subsection', () => {
    const inner: Vmsd = { name: 'in', version: 1, fields: [{ name: 'i', type: { kind: 'int', type: 'uint8' } }], subsections: [{ name: 'in/s', version: 1, fields: [] }] };
    const vmsd: Vmsd = {
      name: 'p',
      version: 1,
      fields: [
        { name: 'st', type: { kind: 'struct', vmsd: inner } },
        { name: 'b', type: { kind: 'int', type: 'uint16' } },
        { name: 'c', type: { kind: 'int', type: 'uint8' } },
      ],
    };
    // b = 0x0501: 05 then a length byte 1 < "in".length + 1 → not a subsection.
    assert.deepEqual(decodeState(Uint8Array.from([0x09, 0x05, 0x01, 0x02]), vmsd), { st: { i: 9 }, b: 0x0501, c: 2 });
    // b = 0x0503, c = 0x41: 05, length 3, but only one name byte left in the whole input → not a subsection.
    assert.deepEqual(decodeState(Uint8Array.from([0x09, 0x05, 0x03, 0x41]), vmsd), { st: { i: 9 }, b: 0x0503, c: 0x41 });
  });
});

describe('subsection headers at the end of the input', () => {
  const dev = makeDev();

  test('on a complete input a trailing 0x05 that cannot be a subsection header is left unconsumed', () => {
    const r = new ByteReader(Uint8Array.from([0x01, 0x05]));
    loadState(r, dev, {}, 1);
    assert.equal(r.position, 1);
    rejects(() => decodeState(Uint8Array.from([0x01, 0x05, 0x05, 0x64]), dev), MalformedError, 'ERR_VMSTATE_TRAILING_BYTES');
  });

  test('when more input may follow, a subsection header cut anywhere is a TruncatedError', () => {
    const full = [0x01, ...X];
    for (let cut = 2; cut < 1 + 1 + 1 + 5 + 4; cut++) {
      const r = new ByteReader(Uint8Array.from(full.slice(0, cut)), 0, 0, cut, true);
      rejects(() => loadState(r, dev, {}, 1), TruncatedError, 'ERR_CORE_TRUNCATED');
    }
  });

  test('when more input may follow, the end of the fields is a TruncatedError because a subsection could still come', () => {
    const r = new ByteReader(Uint8Array.from([0x01]), 0, 0, 1, true);
    const err = rejects(() => loadState(r, dev, {}, 1), TruncatedError, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.offset, 1);
  });
});

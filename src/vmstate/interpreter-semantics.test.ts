/**
 * Load/save semantics of the interpreter beyond single-field encodings
 * (research/qemu-wire-format.md §2.3, §2.4, §2.7): version windows, field
 * gating, exists predicates, must-exist, validation, hooks, custom and tmp
 * fields, error annotation and the size limits on untrusted counts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, ByteWriter, MalformedError, TruncatedError, VmigError } from '../core/index.js';
import type { CustomCodec, Field, VmState, Vmsd } from './description.js';
import { decodeState, encodeState, getPath, loadState, saveState, setPath } from './interpreter.js';
import { rejects } from './vmstate-test-kit.js';
import { VMSTATE_MAX_BUFFER_BYTES, VMSTATE_MAX_ELEMENTS } from './limits.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const u8f = (name: string, extra: Partial<Field> = {}): Field => ({ name, type: { kind: 'int', type: 'uint8' }, ...extra });


describe('version window', () => {
  const log: string[] = [];
  const vmsd: Vmsd = {
    name: 'dev',
    version: 3,
    minimumVersion: 2,
    fields: [u8f('a'), u8f('c', { version: 3 })],
    preLoad: () => log.push('preLoad'),
  };

  test('a stream version above the description\'s version fails ERR_VMSTATE_VERSION_TOO_NEW before preLoad runs', () => {
    log.length = 0;
    const err = rejects(() => decodeState(bytes(1, 2), vmsd, 4), MalformedError, 'ERR_VMSTATE_VERSION_TOO_NEW');
    assert.match(err.message, /4/);
    assert.deepEqual(log, []);
  });

  test('a stream version below minimumVersion fails ERR_VMSTATE_VERSION_TOO_OLD before preLoad runs', () => {
    log.length = 0;
    rejects(() => decodeState(bytes(1), vmsd, 1), MalformedError, 'ERR_VMSTATE_VERSION_TOO_OLD');
    assert.deepEqual(log, []);
  });

  test('versions inside [minimumVersion, version] load', () => {
    assert.deepEqual(decodeState(bytes(1), vmsd, 2), { a: 1 });
    assert.deepEqual(decodeState(bytes(1, 2), vmsd, 3), { a: 1, c: 2 });
  });

  test('without minimumVersion every version from 0 up is accepted', () => {
    assert.deepEqual(decodeState(bytes(7), { name: 'd', version: 5, fields: [u8f('a')] }, 0), { a: 7 });
  });
});

describe('field gating by version', () => {
  const vmsd: Vmsd = { name: 'dev', version: 3, fields: [u8f('a'), u8f('b', { version: 2 }), u8f('c', { version: 3 })] };

  test('a field is present on load iff its version ≤ the stream version', () => {
    assert.deepEqual(decodeState(bytes(1), vmsd, 1), { a: 1 });
    assert.deepEqual(decodeState(bytes(1, 2), vmsd, 2), { a: 1, b: 2 });
    assert.deepEqual(decodeState(bytes(1, 2, 3), vmsd, 3), { a: 1, b: 2, c: 3 });
  });

  test('saveState gates fields by the version it saves at (the description\'s by default)', () => {
    const state = { a: 1, b: 2, c: 3 };
    assert.deepEqual([...encodeState(vmsd, state)], [1, 2, 3]);
    const w = new ByteWriter();
    saveState(w, vmsd, state, {}, undefined, 2);
    assert.deepEqual([...w.finish()], [1, 2]);
  });
});

describe('exists predicates', () => {
  test('an exists predicate sees fields loaded earlier in the same description (QEMU semantics)', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [{ name: 'has', type: { kind: 'bool' } }, { name: 'v', type: { kind: 'int', type: 'uint16' }, exists: (s) => s.has === true }, u8f('z')],
    };
    assert.deepEqual(decodeState(bytes(0x01, 0x00, 0x07, 0x09), vmsd), { has: true, v: 7, z: 9 });
    assert.deepEqual(decodeState(bytes(0x00, 0x09), vmsd), { has: false, z: 9 });
    assert.deepEqual([...encodeState(vmsd, { has: true, v: 7, z: 9 })], [0x01, 0x00, 0x07, 0x09]);
    assert.deepEqual([...encodeState(vmsd, { has: false, v: 7, z: 9 })], [0x00, 0x09]);
  });

  test('an exists predicate receives the stream version on load, the saved version on save, and ctx', () => {
    const seen: [number, unknown][] = [];
    const vmsd: Vmsd = {
      name: 'dev',
      version: 4,
      fields: [u8f('v', { exists: (_s, version, ctx) => (seen.push([version, ctx.tag]), true) })],
    };
    decodeState(bytes(1), vmsd, 2, { tag: 'load' });
    encodeState(vmsd, { v: 1 }, { tag: 'save' });
    assert.deepEqual(seen, [[2, 'load'], [4, 'save']]);
  });

  test('an exists predicate overrides the field version', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('v', { version: 9, exists: () => true }), u8f('w', { version: 0, exists: () => false })] };
    assert.deepEqual(decodeState(bytes(5), vmsd, 1), { v: 5 });
  });

  test('a mustExist field gated out on load fails ERR_VMSTATE_VALIDATION naming the field', () => {
    const vmsd: Vmsd = { name: 'dev', version: 2, fields: [u8f('v', { version: 2, mustExist: true })] };
    const err = rejects(() => decodeState(bytes(), vmsd, 1), MalformedError, 'ERR_VMSTATE_VALIDATION');
    assert.equal(err.details.path, 'dev.v');
  });

  test('a mustExist field gated out on save is a description bug reported as RangeError', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('v', { exists: () => false, mustExist: true })] };
    assert.throws(() => encodeState(vmsd, { v: 1 }), RangeError);
  });
});

describe('validation', () => {
  test('a validate field writes no bytes and checks the state loaded so far with the stream version and ctx', () => {
    const seen: unknown[] = [];
    const vmsd: Vmsd = {
      name: 'dev',
      version: 3,
      fields: [
        u8f('n'),
        { name: 'check', type: { kind: 'validate', check: (s, version, ctx) => (seen.push([s.n, version, ctx.who]), (s.n as number) > 4 ? 'n too big' : undefined) } },
        u8f('m'),
      ],
    };
    assert.deepEqual([...encodeState(vmsd, { n: 1, m: 2 })], [1, 2]);
    assert.deepEqual(decodeState(bytes(3, 4), vmsd, 2, { who: 'dst' }), { n: 3, m: 4 });
    assert.deepEqual(seen, [[3, 2, 'dst']]);
    const err = rejects(() => decodeState(bytes(5, 4), vmsd), MalformedError, 'ERR_VMSTATE_VALIDATION');
    assert.match(err.message, /n too big/);
    assert.equal(err.details.path, 'dev.check');
    assert.equal(err.details.offset, 1);
  });

  test('a field validate rejects a loaded value with ERR_VMSTATE_VALIDATION at the field\'s offset and leaves it unset', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [u8f('a'), { name: 'len', type: { kind: 'int', type: 'uint16' }, validate: (v, s, ctx) => ((v as number) > (ctx.max as number) ? `len ${String(v)} > ${String(ctx.max)}; a=${String(s.a)}` : undefined) }],
    };
    const state: VmState = {};
    const err = rejects(() => decodeState(bytes(1, 0x01, 0x00), vmsd, 1, { max: 255 }, state), MalformedError, 'ERR_VMSTATE_VALIDATION');
    assert.equal(err.details.offset, 1);
    assert.equal(err.details.path, 'dev.len');
    assert.match(err.message, /len 256 > 255; a=1/);
    assert.equal(state.len, undefined);
    assert.deepEqual(decodeState(bytes(1, 0x00, 0xff), vmsd, 1, { max: 255 }), { a: 1, len: 255 });
  });

  test('a field validate sees a whole array at once', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'a', count: 3, type: { kind: 'int', type: 'uint8' }, validate: (v) => ((v as number[]).includes(0) ? 'zero' : undefined) }] };
    assert.deepEqual(decodeState(bytes(1, 2, 3), vmsd), { a: [1, 2, 3] });
    rejects(() => decodeState(bytes(1, 0, 3), vmsd), MalformedError, 'ERR_VMSTATE_VALIDATION');
  });
});

describe('hooks', () => {
  function hooked(log: string[]): Vmsd {
    const logCodec = (tag: string): CustomCodec => ({
      save: (w, s) => {
        log.push(`${tag} field`);
        w.u8(s[tag] as number);
      },
      load: (r, s) => {
        log.push(`${tag} field`);
        s[tag] = r.u8();
      },
    });
    return {
      name: 'dev',
      version: 3,
      fields: [{ name: 'a', type: { kind: 'custom', info: 'logged', codec: logCodec('a') } }],
      subsections: [
        {
          name: 'dev/s',
          version: 2,
          fields: [{ name: 'b', type: { kind: 'custom', info: 'logged', codec: logCodec('b') } }],
          preSave: () => log.push('dev/s preSave'),
          postSave: () => log.push('dev/s postSave'),
          preLoad: () => log.push('dev/s preLoad'),
          postLoad: (_s, v) => log.push(`dev/s postLoad v${v}`),
        },
      ],
      preSave: () => log.push('dev preSave'),
      postSave: () => log.push('dev postSave'),
      preLoad: () => log.push('dev preLoad'),
      postLoad: (_s, v) => log.push(`dev postLoad v${v}`),
    };
  }

  test('save runs preSave before the fields and postSave after the subsections', () => {
    const log: string[] = [];
    assert.deepEqual([...encodeState(hooked(log), { a: 1, b: 2 })], [1, 0x05, 5, ...Buffer.from('dev/s'), 0, 0, 0, 2, 2]);
    assert.deepEqual(log, ['dev preSave', 'a field', 'dev/s preSave', 'b field', 'dev/s postSave', 'dev postSave']);
  });

  test('load runs preLoad after the version check and before the fields, postLoad after the subsections with the stream version', () => {
    const log: string[] = [];
    const wire = bytes(1, 0x05, 5, ...Buffer.from('dev/s'), 0, 0, 0, 1, 2);
    assert.deepEqual(decodeState(wire, hooked(log), 2), { a: 1, b: 2 });
    assert.deepEqual(log, ['dev preLoad', 'a field', 'dev/s preLoad', 'b field', 'dev/s postLoad v1', 'dev postLoad v2']);
  });

  test('preSave may compute what the fields then write', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('sum')], preSave: (s) => void (s.sum = (s.x as number) + (s.y as number)) };
    assert.deepEqual([...encodeState(vmsd, { x: 2, y: 3 })], [5]);
  });

  test('postSave runs even when a field fails to save', () => {
    const log: string[] = [];
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a')], preSave: () => log.push('pre'), postSave: () => log.push('post') };
    assert.throws(() => encodeState(vmsd, { a: 300 }), RangeError);
    assert.deepEqual(log, ['pre', 'post']);
  });

  test('postSave runs even when a subsection fails to save', () => {
    const log: string[] = [];
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [],
      subsections: [{ name: 'dev/s', version: 1, fields: [u8f('b')] }],
      postSave: () => log.push('post'),
    };
    assert.throws(() => encodeState(vmsd, { b: -1 }), RangeError);
    assert.deepEqual(log, ['post']);
  });

  test('a throwing preSave aborts the save before any byte and without postSave (QEMU returns early)', () => {
    const log: string[] = [];
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [u8f('a')],
      preSave: () => {
        throw new VmigError('ERR_TEST_PRESAVE', 'not now');
      },
      postSave: () => log.push('post'),
    };
    const w = new ByteWriter();
    assert.throws(() => saveState(w, vmsd, { a: 1 }), (e: unknown) => e instanceof VmigError && e.code === 'ERR_TEST_PRESAVE');
    assert.equal(w.length, 0);
    assert.deepEqual(log, []);
  });

  test('postLoad does not run when a field fails to load', () => {
    const log: string[] = [];
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a'), u8f('b')], postLoad: () => log.push('post') };
    rejects(() => decodeState(bytes(1), vmsd), TruncatedError);
    assert.deepEqual(log, []);
  });

  test('struct hooks run with the struct\'s own state object and its local version', () => {
    const seen: unknown[] = [];
    const inner: Vmsd = { name: 'in', version: 7, fields: [u8f('i')], postLoad: (s, v) => seen.push([s.i, v]) };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'st', count: 2, type: { kind: 'struct', vmsd: inner } }] };
    decodeState(bytes(4, 5), vmsd, 1);
    assert.deepEqual(seen, [[4, 7], [5, 7]]);
  });
});

describe('custom and tmp fields', () => {
  const pciConfig: CustomCodec = {
    save: (w, s) => {
      w.u16le(s.vendor as number).u16le(s.device as number);
    },
    load: (r, s) => {
      s.vendor = r.u16le();
      s.device = r.u16le();
    },
  };

  test('a custom field writes and reads whatever its codec does, on the whole state of its description', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a'), { name: 'config', type: { kind: 'custom', info: 'pci config', codec: pciConfig } }, u8f('z')] };
    const state = { a: 1, vendor: 0x1af4, device: 0x1000, z: 2 };
    const wire = [0x01, /* vendor le16 */ 0xf4, 0x1a, /* device le16 */ 0x00, 0x10, 0x02];
    assert.deepEqual([...encodeState(vmsd, state)], wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), state);
  });

  test('a custom codec receives ctx on both sides', () => {
    const seen: unknown[] = [];
    const codec: CustomCodec = { save: (w, _s, ctx) => void (seen.push(ctx.side), w.u8(0)), load: (r, _s, ctx) => void (seen.push(ctx.side), r.u8()) };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'c', type: { kind: 'custom', info: 'x', codec } }] };
    decodeState(encodeState(vmsd, {}, { side: 'src' }), vmsd, 1, { side: 'dst' });
    assert.deepEqual(seen, ['src', 'dst']);
  });

  test('a tmp field has no bytes of its own: its child description fills temporaries from the parent state in preSave and applies them in postLoad', () => {
    const child: Vmsd = {
      name: 'dev/tmp',
      version: 5,
      fields: [{ name: 'hi', type: { kind: 'int', type: 'uint32' } }, { name: 'lo', type: { kind: 'int', type: 'uint32' } }],
      preSave: (s) => {
        s.hi = Number((s.features as bigint) >> 32n);
        s.lo = Number((s.features as bigint) & 0xffff_ffffn);
      },
      postLoad: (s) => {
        s.features = (BigInt(s.hi as number) << 32n) | BigInt(s.lo as number);
        delete s.hi;
        delete s.lo;
      },
    };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a'), { name: 'tmp', type: { kind: 'tmp', vmsd: child } }] };
    const wire = [0x01, /* hi */ 0x00, 0x00, 0x00, 0x01, /* lo */ 0x80, 0x00, 0x00, 0x02];
    assert.deepEqual([...encodeState(vmsd, { a: 1, features: 0x1_8000_0002n })], wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), { a: 1, features: 0x1_8000_0002n });
  });

  test('a tmp child loads with the tmp field\'s version (0 unless set), as QEMU\'s get_tmp does', () => {
    const versions: number[] = [];
    const child: Vmsd = { name: 'dev/tmp', version: 5, fields: [u8f('t')], postLoad: (_s, v) => versions.push(v) };
    const plain: Vmsd = { name: 'dev', version: 3, fields: [{ name: 'tmp', type: { kind: 'tmp', vmsd: child } }] };
    const gated: Vmsd = { name: 'dev', version: 3, fields: [{ name: 'tmp', version: 2, type: { kind: 'tmp', vmsd: child } }] };
    decodeState(bytes(1), plain, 3);
    decodeState(bytes(1), gated, 3);
    assert.deepEqual(versions, [0, 2]);
  });
});

describe('error annotation', () => {
  test('details.path names description and field for a top-level field', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a'), { name: 'b', type: { kind: 'int', type: 'uint32' } }] };
    const err = rejects(() => decodeState(bytes(1, 2), vmsd), TruncatedError);
    assert.equal(err.details.path, 'dev.b');
    assert.equal(err.details.offset, 1);
    assert.equal(err.details.needed, 3);
  });

  test('details.path chains outer description, inner description and field for a nested struct', () => {
    const inner: Vmsd = { name: 'in', version: 1, fields: [u8f('x'), { name: 'y', type: { kind: 'int', type: 'uint16' }, validate: (v) => (v === 0 ? 'zero' : undefined) }] };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 's', type: { kind: 'struct', vmsd: inner } }] };
    const err = rejects(() => decodeState(bytes(1, 0, 0), vmsd), MalformedError, 'ERR_VMSTATE_VALIDATION');
    assert.equal(err.details.path, 'dev/in.y');
  });

  test('details.path names the inner field for a struct of plain integers too, whatever path loads it', () => {
    const pt: Vmsd = { name: 'pt', version: 1, fields: [u8f('x'), { name: 'y', type: { kind: 'int', type: 'uint32' } }] };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'pts', count: 3, type: { kind: 'struct', vmsd: pt } }] };
    const wire = [1, 0, 0, 0, 2, /* pts[1] */ 3, 0, 0, 0, 4, /* pts[2] */ 5, 0, 0];
    const err = rejects(() => decodeState(Uint8Array.from(wire), vmsd), TruncatedError, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.path, 'dev/pt.y');
    assert.equal(err.details.offset, 11);
    assert.equal(err.details.needed, 2);
    assert.deepEqual(decodeState(Uint8Array.from([...wire, 0, 6]), vmsd), { pts: [{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }] });
  });

  test('getPath and setPath walk and create nested objects', () => {
    const s: VmState = {};
    setPath(s, ['a', 'b', 'c'], 1);
    assert.deepEqual(s, { a: { b: { c: 1 } } });
    assert.equal(getPath(s, ['a', 'b', 'c']), 1);
    assert.equal(getPath(s, ['a', 'x', 'c']), undefined);
    assert.equal(getPath({ a: 5 }, ['a', 'b']), undefined);
  });
});

describe('limits on sizes from the stream', () => {
  const counted = (countType: 'uint32' | 'int32', field: Field): Vmsd => ({ name: 'dev', version: 1, fields: [{ name: 'n', type: { kind: 'int', type: countType } }, field] });
  const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

  test('an array count above VMSTATE_MAX_ELEMENTS fails as MalformedError ERR_VMSTATE_TOO_LARGE naming the field', () => {
    const vmsd = counted('uint32', { name: 'table', count: { field: ['n'] }, type: { kind: 'int', type: 'uint8' } });
    const err = rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_ELEMENTS + 1)), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
    assert.equal(err.details.path, 'dev.table');
    assert.equal(err.details.offset, 4);
  });

  test('an array count above the limit through multiply fails the same way', () => {
    const vmsd = counted('uint32', { name: 'table', count: { field: ['n'], multiply: 4 }, type: { kind: 'bool' } });
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_ELEMENTS / 2)), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
  });

  test('an array count of 0xffffffff of structs fails ERR_VMSTATE_TOO_LARGE at once', () => {
    const inner: Vmsd = { name: 'e', version: 1, fields: [] };
    const vmsd = counted('uint32', { name: 'elems', count: { field: ['n'] }, type: { kind: 'struct', vmsd: inner } });
    rejects(() => decodeState(bytes(0xff, 0xff, 0xff, 0xff), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
  });

  test('an array count at the limit is allowed and then fails only for lack of bytes', () => {
    const vmsd = counted('uint32', { name: 'table', count: { field: ['n'] }, type: { kind: 'int', type: 'uint8' } });
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_ELEMENTS)), vmsd), TruncatedError, 'ERR_CORE_TRUNCATED');
  });

  test('a buffer size above VMSTATE_MAX_BUFFER_BYTES fails ERR_VMSTATE_TOO_LARGE', () => {
    const vmsd = counted('uint32', { name: 'data', type: { kind: 'buffer', size: { field: ['n'] } } });
    const err = rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_BUFFER_BYTES + 1)), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
    assert.equal(err.details.path, 'dev.data');
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_BUFFER_BYTES)), vmsd), TruncatedError);
  });

  test('an unused size above VMSTATE_MAX_BUFFER_BYTES fails ERR_VMSTATE_TOO_LARGE', () => {
    const vmsd = counted('uint32', { name: 'pad', type: { kind: 'unused', size: { field: ['n'], multiply: 2 } } });
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_BUFFER_BYTES / 2 + 1)), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
  });

  test('a bitmap bit count above 8 × VMSTATE_MAX_BUFFER_BYTES fails ERR_VMSTATE_TOO_LARGE and one at the limit only for lack of bytes', () => {
    const vmsd = counted('int32', { name: 'bm', type: { kind: 'bitmap', bits: { field: ['n'] } } });
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_BUFFER_BYTES * 8 + 1)), vmsd), MalformedError, 'ERR_VMSTATE_TOO_LARGE');
    rejects(() => decodeState(bytes(...be32(VMSTATE_MAX_BUFFER_BYTES * 8)), vmsd), TruncatedError);
  });

  test('a negative int32 count fails ERR_VMSTATE_BAD_SIZE', () => {
    const vmsd = counted('int32', { name: 'table', count: { field: ['n'] }, type: { kind: 'int', type: 'uint8' } });
    const err = rejects(() => decodeState(bytes(0x80, 0, 0, 0), vmsd), MalformedError, 'ERR_VMSTATE_BAD_SIZE');
    assert.equal(err.details.path, 'dev.table');
  });

  test('a count field that was never loaded fails ERR_VMSTATE_BAD_SIZE rather than reading garbage', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'table', count: { field: ['missing'] }, type: { kind: 'int', type: 'uint8' } }] };
    rejects(() => decodeState(bytes(1, 2), vmsd), MalformedError, 'ERR_VMSTATE_BAD_SIZE');
  });

  test('loadState keeps reading from where it was told to: its reader may start mid-buffer', () => {
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [u8f('a')] };
    const r = new ByteReader(bytes(9, 9, 4), 100, 2);
    const s: VmState = {};
    loadState(r, vmsd, s, 1);
    assert.deepEqual(s, { a: 4 });
    assert.equal(r.offset, 103);
  });
});

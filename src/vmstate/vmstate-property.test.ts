/**
 * Property tests: random descriptions (every field kind, fixed and variable
 * arrays, variable buffers and bitmaps, nested structs, exists-gated and
 * version-gated fields, custom codecs, validate fields, subsections with
 * random needed flags, nested up to three levels) with random conforming
 * states.
 *
 * - save → load → save gives identical bytes and an equal state;
 * - every strict prefix fails with TruncatedError when the reader is told more
 *   may follow (a complete input that ends at a subsection boundary is a valid
 *   body: subsections have no end marker, so only a reader that knows the input
 *   may continue can call it truncated); without subsections every strict
 *   prefix is a TruncatedError even as a complete input;
 * - single-byte mutations end in a valid decode or a VmigError, never another
 *   exception;
 * - a description rebuilt from the emitted vmdesc loads the bytes and saves
 *   them back identically.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { ByteReader, ByteWriter, TruncatedError, VmigError } from '../core/index.js';
import type { CustomCodec, Field, FieldType, IntType, VmState, Vmsd } from './description.js';
import { decodeState, encodeState, loadState, saveState } from './interpreter.js';
import type { JsonObject } from './interpreter.js';
import { formatQemuJson, vmsdFromVmdesc } from './vmdesc.js';
import type { VmdescNode } from './vmdesc.js';

// ------------------------------------------------------------ specs

type Leaf =
  | { k: 'int'; t: IntType; equal: boolean; le: boolean }
  | { k: 'bool' }
  | { k: 'timer' }
  | { k: 'buffer'; size: number }
  | { k: 'bitmap'; bits: number };

type CountType = 'uint8' | 'uint16' | 'int32' | 'uint32' | 'uint64';

type FieldSpec =
  | { k: 'leaf'; leaf: Leaf; count: number | null; version: number | null; mustExist: boolean }
  | { k: 'unused'; size: number }
  | { k: 'varray'; countType: CountType; multiply: number; elem: Leaf }
  | { k: 'vbuffer'; sizeType: CountType; multiply: number }
  | { k: 'vbitmap' }
  | { k: 'struct'; spec: VmsdSpec; count: number | null }
  | { k: 'varray-struct'; countType: CountType; spec: VmsdSpec }
  | { k: 'cond'; leaf: Leaf; count: number | null }
  | { k: 'future'; leaf: Leaf }
  | { k: 'validate' }
  | { k: 'custom' };

interface VmsdSpec {
  version: number;
  fields: FieldSpec[];
  subs: VmsdSpec[];
}

const INT_TYPES: IntType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];
const COUNT_TYPES: CountType[] = ['uint8', 'uint16', 'int32', 'uint32', 'uint64'];

const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('int' as const), t: fc.constantFrom(...INT_TYPES), equal: fc.constantFrom(false, false, true), le: fc.constant(false) }), weight: 6 },
  fc.constant({ k: 'int' as const, t: 'int32' as const, equal: false, le: true }),
  fc.constant({ k: 'bool' as const }),
  fc.constant({ k: 'timer' as const }),
  fc.record({ k: fc.constant('buffer' as const), size: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ k: fc.constant('bitmap' as const), bits: fc.integer({ min: 1, max: 130 }) }),
);

const countArb = fc.option(fc.integer({ min: 0, max: 4 }), { nil: null });

/**
 * Options for generated descriptions: `withSubs` allows subsections;
 * `uniform` keeps every element of a struct array the same size (no variable
 * arrays, buffers or bitmaps inside structs), because a vmdesc describes a
 * compressible array by its first element only (QEMU's analyze-migration.py
 * has the same limit).
 */
interface GenOptions {
  withSubs: boolean;
  uniform: boolean;
}

function fieldArb(depth: number, opts: GenOptions, inStruct: boolean): fc.Arbitrary<FieldSpec> {
  const variable = !(opts.uniform && inStruct);
  const options: fc.Arbitrary<FieldSpec>[] = [
    fc.record({ k: fc.constant('leaf' as const), leaf: leafArb, count: countArb, version: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }), mustExist: fc.constantFrom(false, false, false, true) }),
    fc.record({ k: fc.constant('leaf' as const), leaf: leafArb, count: countArb, version: fc.constant(null), mustExist: fc.constant(false) }),
    fc.record({ k: fc.constant('unused' as const), size: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ k: fc.constant('cond' as const), leaf: leafArb, count: countArb }),
    fc.record({ k: fc.constant('future' as const), leaf: leafArb }),
    fc.constant({ k: 'validate' as const }),
    fc.constant({ k: 'custom' as const }),
  ];
  if (variable) {
    options.push(
      fc.record({ k: fc.constant('varray' as const), countType: fc.constantFrom(...COUNT_TYPES), multiply: fc.integer({ min: 1, max: 3 }), elem: leafArb }),
      fc.record({ k: fc.constant('vbuffer' as const), sizeType: fc.constantFrom(...COUNT_TYPES), multiply: fc.integer({ min: 1, max: 3 }) }),
      fc.constant({ k: 'vbitmap' as const }),
    );
  }
  if (depth < 2) {
    options.push(fc.record({ k: fc.constant('struct' as const), spec: vmsdSpecArb(depth + 1, opts, true), count: countArb }));
    options.push(fc.record({ k: fc.constant('struct' as const), spec: plainSpecArb, count: countArb }));
    if (variable) options.push(fc.record({ k: fc.constant('varray-struct' as const), countType: fc.constantFrom(...COUNT_TYPES), spec: vmsdSpecArb(depth + 1, opts, true) }));
  }
  return fc.oneof(...options);
}

/** Structs of plain ints (arrays of 0..4 included), bools and unused bytes only: what the interpreter's flat fast path takes. */
const plainSpecArb: fc.Arbitrary<VmsdSpec> = fc.record({
  version: fc.integer({ min: 1, max: 3 }),
  fields: fc.array(
    fc.oneof(
      { arbitrary: fc.record({ k: fc.constant('leaf' as const), leaf: fc.record({ k: fc.constant('int' as const), t: fc.constantFrom(...INT_TYPES), equal: fc.constant(false), le: fc.constant(false) }), count: countArb, version: fc.constant(null), mustExist: fc.constant(false) }), weight: 4 },
      fc.record({ k: fc.constant('leaf' as const), leaf: fc.constant({ k: 'bool' as const }), count: fc.constant(null), version: fc.constant(null), mustExist: fc.constant(false) }),
      fc.record({ k: fc.constant('unused' as const), size: fc.integer({ min: 1, max: 4 }) }),
    ),
    { maxLength: 5 },
  ),
  subs: fc.constant([]),
});

function vmsdSpecArb(depth: number, opts: GenOptions, inStruct: boolean): fc.Arbitrary<VmsdSpec> {
  return fc.record({
    version: fc.integer({ min: 1, max: 3 }),
    fields: fc.array(fieldArb(depth, opts, inStruct), { maxLength: depth === 0 ? 7 : 3 }),
    subs: opts.withSubs && depth < 2 ? fc.array(fc.constant(null).chain(() => vmsdSpecArb(depth + 1, opts, inStruct)), { maxLength: 2 }) : fc.constant([]),
  });
}

// ------------------------------------------------------------ building descriptions and states

type Part = fc.Arbitrary<VmState>;

const INT_RANGE: Record<IntType, [number, number] | [bigint, bigint]> = {
  int8: [-0x80, 0x7f],
  uint8: [0, 0xff],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
  int64: [-(1n << 63n), (1n << 63n) - 1n],
  uint64: [0n, (1n << 64n) - 1n],
};

function intArb(t: IntType): fc.Arbitrary<number | bigint> {
  const [min, max] = INT_RANGE[t];
  return typeof min === 'bigint' ? fc.bigInt({ min, max: max as bigint }) : fc.integer({ min, max: max as number });
}

function bitmapArb(bits: number): fc.Arbitrary<Uint8Array> {
  const n = Math.ceil(bits / 64) * 8;
  return fc.uint8Array({ minLength: n, maxLength: n }).map((b) => {
    // Bits at and beyond the count are not sent, so a conforming state has them clear.
    for (let i = bits; i < n * 8; i++) b[i >> 3]! &= ~(1 << (i & 7));
    return b;
  });
}

function leafType(leaf: Leaf): FieldType {
  switch (leaf.k) {
    case 'int':
      return { kind: 'int', type: leaf.t, ...(leaf.equal ? { equal: true } : {}), ...(leaf.le ? { le: true } : {}) };
    case 'bool':
      return { kind: 'bool' };
    case 'timer':
      return { kind: 'timer' };
    case 'buffer':
      return { kind: 'buffer', size: leaf.size };
    case 'bitmap':
      return { kind: 'bitmap', bits: leaf.bits };
  }
}

function leafArbOf(leaf: Leaf): fc.Arbitrary<unknown> {
  switch (leaf.k) {
    case 'int':
      return leaf.le ? fc.integer({ min: 0, max: 1000 }) : intArb(leaf.t);
    case 'bool':
      return fc.boolean();
    case 'timer':
      return intArb('int64');
    case 'buffer':
      return fc.uint8Array({ minLength: leaf.size, maxLength: leaf.size });
    case 'bitmap':
      return bitmapArb(leaf.bits);
  }
}

const maybeArray = (arb: fc.Arbitrary<unknown>, count: number | null): fc.Arbitrary<unknown> =>
  count === null ? arb : fc.array(arb, { minLength: count, maxLength: count });

const countValue = (t: CountType, n: number): number | bigint => (t === 'uint64' ? BigInt(n) : n);

const u16leCodec = (key: string): CustomCodec => ({
  save: (w, s) => void w.u16le(s[key] as number),
  load: (r, s) => void (s[key] = r.u16le()),
});

interface Names {
  next: number;
}

/** A description for `spec` and an arbitrary of conforming states for it. */
function build(spec: VmsdSpec, name: string, names: Names): { vmsd: Vmsd; state: Part } {
  const fields: Field[] = [];
  const parts: Part[] = [];
  const fresh = (): string => `f${names.next++}`;
  // Every struct starts with a byte that is always sent (see the note on prefixes in build's caller).
  if (name.startsWith('st')) {
    const head = fresh();
    fields.push({ name: head, type: { kind: 'int', type: 'uint8' } });
    parts.push(intArb('uint8').map((v) => ({ [head]: v })));
  }
  for (const f of spec.fields) {
    const n = fresh();
    switch (f.k) {
      case 'leaf': {
        const field: Field = { name: n, type: leafType(f.leaf) };
        if (f.count !== null) field.count = f.count;
        if (f.version !== null) field.version = Math.min(f.version, spec.version);
        if (f.mustExist) field.mustExist = true;
        fields.push(field);
        parts.push(maybeArray(leafArbOf(f.leaf), f.count).map((v) => ({ [n]: v })));
        break;
      }
      case 'unused':
        // QEMU names every VMSTATE_UNUSED "unused": repeated names get "[k]" in the vmdesc.
        fields.push({ name: 'unused', path: [n], type: { kind: 'unused', size: f.size } });
        break;
      case 'varray': {
        const c = `${n}_n`;
        fields.push({ name: c, type: { kind: 'int', type: f.countType } });
        fields.push({ name: n, count: { field: [c], multiply: f.multiply }, type: leafType(f.elem) });
        parts.push(
          fc.integer({ min: 0, max: 4 }).chain((k) =>
            fc.array(leafArbOf(f.elem), { minLength: k * f.multiply, maxLength: k * f.multiply }).map((arr) => ({ [c]: countValue(f.countType, k), [n]: arr })),
          ),
        );
        break;
      }
      case 'vbuffer': {
        const c = `${n}_len`;
        fields.push({ name: c, type: { kind: 'int', type: f.sizeType } });
        fields.push({ name: n, type: { kind: 'buffer', size: { field: [c], multiply: f.multiply } } });
        parts.push(
          fc.integer({ min: 0, max: 5 }).chain((k) =>
            fc.uint8Array({ minLength: k * f.multiply, maxLength: k * f.multiply }).map((b) => ({ [c]: countValue(f.sizeType, k), [n]: b })),
          ),
        );
        break;
      }
      case 'vbitmap': {
        const c = `${n}_bits`;
        fields.push({ name: c, type: { kind: 'int', type: 'int32' } });
        fields.push({ name: n, type: { kind: 'bitmap', bits: { field: [c] } } });
        parts.push(fc.integer({ min: 0, max: 200 }).chain((bits) => bitmapArb(bits).map((b) => ({ [c]: bits, [n]: b }))));
        break;
      }
      case 'struct':
      case 'varray-struct': {
        const sub = build(f.spec, `st${names.next++}x`, names);
        if (f.k === 'struct') {
          const field: Field = { name: n, type: { kind: 'struct', vmsd: sub.vmsd } };
          if (f.count !== null) field.count = f.count;
          fields.push(field);
          parts.push(maybeArray(sub.state, f.count).map((v) => ({ [n]: v })));
        } else {
          const c = `${n}_n`;
          fields.push({ name: c, type: { kind: 'int', type: f.countType } });
          fields.push({ name: n, count: { field: [c] }, type: { kind: 'struct', vmsd: sub.vmsd } });
          parts.push(fc.integer({ min: 0, max: 3 }).chain((k) => fc.array(sub.state, { minLength: k, maxLength: k }).map((arr) => ({ [c]: countValue(f.countType, k), [n]: arr }))));
        }
        break;
      }
      case 'cond': {
        const flag = `${n}_has`;
        fields.push({ name: flag, type: { kind: 'bool' } });
        const field: Field = { name: n, type: leafType(f.leaf), exists: (s) => s[flag] === true };
        if (f.count !== null) field.count = f.count;
        fields.push(field);
        parts.push(fc.option(maybeArray(leafArbOf(f.leaf), f.count), { nil: undefined }).map((v) => (v === undefined ? { [flag]: false } : { [flag]: true, [n]: v })));
        break;
      }
      case 'future':
        // Newer than the description: neither saved nor expected on load.
        fields.push({ name: n, type: leafType(f.leaf), version: spec.version + 1 });
        break;
      case 'validate': {
        const want = spec.version;
        fields.push({ name: n, type: { kind: 'validate', check: (_s, version) => (version === want ? undefined : `version ${version} ≠ ${want}`) } });
        break;
      }
      case 'custom':
        fields.push({ name: n, type: { kind: 'custom', info: 'u16le blob', codec: u16leCodec(n) } });
        parts.push(intArb('uint16').map((v) => ({ [n]: v })));
        break;
    }
  }
  const subsections: Vmsd[] = [];
  spec.subs.forEach((subSpec, i) => {
    const subName = `${name}/s${i}`;
    const marker = `@${subName}`;
    const sub = build(subSpec, subName, names);
    sub.vmsd.needed = (s) => s[marker] === true;
    sub.vmsd.postLoad = (s) => void (s[marker] = true);
    subsections.push(sub.vmsd);
    parts.push(fc.option(sub.state, { nil: undefined }).map((v) => (v === undefined ? {} : { ...v, [marker]: true })));
  });
  const vmsd: Vmsd = { name, version: spec.version, minimumVersion: 1, fields };
  if (subsections.length > 0) vmsd.subsections = subsections;
  const state: Part = parts.length === 0 ? fc.constant({}) : fc.tuple(...parts).map((ps) => Object.assign({}, ...ps) as VmState);
  return { vmsd, state };
}

interface Case {
  vmsd: Vmsd;
  state: VmState;
}

function caseArb(withSubs: boolean, uniform = false): fc.Arbitrary<Case> {
  return vmsdSpecArb(0, { withSubs, uniform }, false).chain((spec) => {
    const { vmsd, state } = build(spec, 'top', { next: 0 });
    return state.map((s) => ({ vmsd, state: s }));
  });
}

const isVmigError = (err: unknown): boolean => err instanceof VmigError;

function describeFailure(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
}

// ------------------------------------------------------------ properties

describe('vmstate properties over random descriptions', () => {
  test('save → load → save gives identical bytes and a state equal to the one saved', () => {
    fc.assert(
      fc.property(caseArb(true), ({ vmsd, state }) => {
        const bytes = encodeState(vmsd, state);
        const loaded = decodeState(bytes, vmsd);
        assert.deepEqual(loaded, state);
        assert.deepEqual(encodeState(vmsd, loaded), bytes);
      }),
      { numRuns: 150 },
    );
  });

  test('every strict prefix fails with TruncatedError when the reader knows more input may follow', () => {
    fc.assert(
      fc.property(caseArb(true), ({ vmsd, state }) => {
        const bytes = encodeState(vmsd, state);
        for (let len = 0; len < bytes.length; len++) {
          const r = new ByteReader(bytes, 0, 0, len, true);
          try {
            loadState(r, vmsd, {}, vmsd.version);
          } catch (err) {
            if (err instanceof TruncatedError && err.code === 'ERR_CORE_TRUNCATED') continue;
            assert.fail(`prefix of ${len}/${bytes.length} bytes: ${describeFailure(err)}`);
          }
          assert.fail(`prefix of ${len}/${bytes.length} bytes decoded`);
        }
      }),
      { numRuns: 80 },
    );
  });

  test('without subsections every strict prefix of a complete input fails with TruncatedError', () => {
    fc.assert(
      fc.property(caseArb(false), ({ vmsd, state }) => {
        const bytes = encodeState(vmsd, state);
        for (let len = 0; len < bytes.length; len++) {
          try {
            decodeState(bytes.subarray(0, len), vmsd);
          } catch (err) {
            if (err instanceof TruncatedError) continue;
            assert.fail(`prefix of ${len}/${bytes.length} bytes: ${describeFailure(err)}`);
          }
          assert.fail(`prefix of ${len}/${bytes.length} bytes decoded`);
        }
      }),
      { numRuns: 80 },
    );
  });

  test('with subsections every strict prefix of a complete input fails with a VmigError or decodes to a state that re-encodes to a valid body', () => {
    fc.assert(
      fc.property(caseArb(true), ({ vmsd, state }) => {
        const bytes = encodeState(vmsd, state);
        for (let len = 0; len < bytes.length; len++) {
          let loaded: VmState;
          try {
            loaded = decodeState(bytes.subarray(0, len), vmsd);
          } catch (err) {
            if (isVmigError(err)) continue;
            assert.fail(`prefix of ${len}/${bytes.length} bytes: ${describeFailure(err)}`);
          }
          // Decoding a prefix is legitimate only where subsections may end; whatever it
          // decoded must itself be a state the description can save and load again.
          const again = encodeState(vmsd, loaded);
          assert.deepEqual(decodeState(again, vmsd), loaded);
        }
      }),
      { numRuns: 60 },
    );
  });

  test('single-byte mutations end in a valid decode or a VmigError, never another exception', () => {
    fc.assert(
      fc.property(
        caseArb(true),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 24 }),
        fc.boolean(),
        ({ vmsd, state }, mutations, lenient) => {
          const bytes = encodeState(vmsd, state);
          if (bytes.length === 0) return;
          for (const [pos, value] of mutations) {
            const mutated = bytes.slice();
            mutated[pos % bytes.length] = value;
            try {
              // Load over the saved state, as a destination with live values would: equal/le fields compare.
              decodeState(mutated, vmsd, vmsd.version, { lenient }, structuredClone(state));
            } catch (err) {
              if (!isVmigError(err)) assert.fail(`mutation ${pos % bytes.length} := ${value}: ${describeFailure(err)}`);
            }
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  test('a description rebuilt from the emitted vmdesc loads the bytes and saves them back identically', () => {
    fc.assert(
      fc.property(caseArb(true, true), ({ vmsd, state }) => {
        const w = new ByteWriter();
        const json: JsonObject = {};
        saveState(w, vmsd, state, {}, json);
        const bytes = w.finish();
        assert.deepEqual(bytes, encodeState(vmsd, state));
        const built = vmsdFromVmdesc(JSON.parse(formatQemuJson(json)) as VmdescNode);
        const loaded = decodeState(bytes, built, json.version as number);
        const again = new ByteWriter();
        saveState(again, built, loaded);
        assert.deepEqual(again.finish(), bytes);
      }),
      { numRuns: 120 },
    );
  });
});

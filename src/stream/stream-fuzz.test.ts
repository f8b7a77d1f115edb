/**
 * Property tests (fast-check) of the stream codec.
 *
 * Valid streams come from a model writer written here from the research notes
 * (§1): it emits the bytes and the items they must decode to, independently of
 * StreamEncoder. Properties: decode gives the model's items and encodeItems
 * gives the bytes back; any chunking decodes alike; mutated, truncated or
 * extended streams end in items or a VmigError, never another exception; huge
 * claimed lengths fail (or wait) without allocating.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { TruncatedError, VmigError } from '../core/index.js';
import type { VmState } from '../vmstate/index.js';
import type { RamBlockInfo, SectionHeader, StreamItem } from './items.js';
import { StreamDecoder, decodeStream } from './stream-decoder.js';
import type { StreamDecoderOptions } from './stream-decoder.js';
import { encodeItems } from './stream-encoder.js';
import { HEADER, cat, hex, resolveTiny } from './stream-test-kit.js';

const PAGE = 4096;

// ---------------------------------------------------------------- the model writer

class Out {
  readonly bytes: number[] = [];
  readonly items: StreamItem[] = [];
  get at(): number {
    return this.bytes.length;
  }
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  be16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  be32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  /** A non-negative integer < 2^53, or a bigint. */
  be64(v: number | bigint): this {
    const b = BigInt(v);
    return this.be32(Number(b >> 32n)).be32(Number(b & 0xffffffffn));
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  str8(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u8(b.length).raw(b);
  }
  item(item: StreamItem): void {
    this.items.push(item);
  }
}

interface TinyState {
  version: number;
  flags: number;
  mode: number;
  regs: number[];
  extra: bigint | undefined;
  blob: Uint8Array | undefined;
}

type Rec =
  | { kind: 'page'; block: number; page: number; data: Uint8Array; named: boolean }
  | { kind: 'zero'; block: number; page: number; fill: number; named: boolean }
  | { kind: 'xbzrle'; block: number; page: number; data: Uint8Array; named: boolean }
  | { kind: 'compressed'; block: number; page: number; data: Uint8Array; named: boolean }
  | { kind: 'flush' };

type Sec =
  | { kind: 'part'; recs: Rec[] }
  | { kind: 'device'; sectionId: number; idstr: string; instance: number; state: TinyState }
  | { kind: 'command'; cmd: number; data: Uint8Array; packaged?: Uint8Array };

interface StreamSpec {
  footers: boolean;
  config: { machine: string; pageBits: boolean; caps: string[]; uuid: Uint8Array | undefined } | undefined;
  ramId: number;
  blocks: { idstr: string; pages: number; addr: bigint }[];
  middle: Sec[];
  endRecs: Rec[];
  devices: Sec[];
  vmdesc: string | undefined;
}

function writeStream(spec: StreamSpec): { bytes: Uint8Array; items: StreamItem[] } {
  const o = new Out();
  o.item({ type: 'header', offset: 0, version: 3 });
  o.be32(0x5145564d).be32(3);
  const ignoreShared = spec.config?.caps.includes('x-ignore-shared') ?? false;
  if (spec.config) {
    const c = spec.config;
    const at = o.at;
    o.u8(0x07);
    const name = new TextEncoder().encode(c.machine);
    o.be32(name.length).raw(name);
    const config: Record<string, unknown> = { machine: c.machine };
    if (c.pageBits) {
      o.u8(0x05).str8('configuration/target-page-bits').be32(1).be32(12);
      config.targetPageBits = 12;
    }
    if (c.caps.length > 0) {
      o.u8(0x05).str8('configuration/capabilities').be32(1).be32(c.caps.length);
      for (const cap of c.caps) o.str8(cap);
      config.capabilities = c.caps;
    }
    if (c.uuid) {
      o.u8(0x05).str8('configuration/uuid').be32(1).raw(c.uuid);
      config.uuid = c.uuid;
    }
    o.item({ type: 'configuration', offset: at, size: o.at - at, config: config as never });
  }
  const ramStart: SectionHeader = { kind: 'start', sectionId: spec.ramId, idstr: 'ram', instanceId: 0, version: 4 };
  const footer = (id: number) => {
    if (!spec.footers) return;
    o.item({ type: 'footer', offset: o.at, sectionId: id });
    o.u8(0x7e).be32(id);
  };
  const eos = () => {
    o.item({ type: 'ram-eos', offset: o.at });
    o.be64(0x10);
  };
  let last: number | undefined;
  const record = (r: Rec) => {
    const at = o.at;
    if (r.kind === 'flush') {
      o.item({ type: 'ram-multifd-flush', offset: at });
      o.be64(0x200);
      return;
    }
    const base = { page: 0x08, zero: 0x02, xbzrle: 0x40, compressed: 0x100 }[r.kind];
    const cont = !r.named && last === r.block;
    const flags = base | (cont ? 0x20 : 0);
    const addr = r.page * PAGE;
    const block = spec.blocks[r.block]!.idstr;
    o.be64(addr + flags);
    if (!cont) o.str8(block);
    last = r.block;
    switch (r.kind) {
      case 'page':
        o.raw(r.data);
        o.item({ type: 'ram-page', offset: at, flags, block, addr, data: r.data });
        break;
      case 'zero':
        o.u8(r.fill);
        o.item({ type: 'ram-zero', offset: at, flags, block, addr, fill: r.fill });
        break;
      case 'xbzrle':
        o.u8(0x01).be16(r.data.length).raw(r.data);
        o.item({ type: 'ram-xbzrle', offset: at, flags, block, addr, data: r.data });
        break;
      case 'compressed':
        o.be32(r.data.length).raw(r.data);
        o.item({ type: 'ram-compressed', offset: at, flags, block, addr, data: r.data });
        break;
    }
  };
  const device = (s: Extract<Sec, { kind: 'device' }>) => {
    const header: SectionHeader = { kind: 'full', sectionId: s.sectionId, idstr: s.idstr, instanceId: s.instance, version: s.state.version };
    o.item({ type: 'section', offset: o.at, header });
    o.u8(0x04).be32(s.sectionId).str8(s.idstr).be32(s.instance).be32(s.state.version);
    const at = o.at;
    const st = s.state;
    const state: VmState = { flags: st.flags, mode: st.mode };
    o.be32(st.flags).u8(st.mode);
    if (st.version >= 2) {
      o.be16(st.regs.length);
      for (const r of st.regs) o.be16(r);
      state.count = st.regs.length;
      state.regs = st.regs;
    }
    if (st.extra !== undefined) {
      o.u8(0x05).str8('tiny-dev/extra').be32(1).be64(st.extra);
      state.extra = st.extra;
    }
    if (st.blob !== undefined) {
      o.u8(0x05).str8('tiny-dev/blob').be32(2).u8(st.blob.length).raw(st.blob);
      state.blobLen = st.blob.length;
      state.blob = st.blob;
    }
    o.item({ type: 'device-state', offset: at, size: o.at - at, header, state });
    footer(s.sectionId);
  };
  const command = (s: Extract<Sec, { kind: 'command' }>) => {
    o.item(s.packaged ? { type: 'command', offset: o.at, cmd: s.cmd, data: s.data, packaged: s.packaged } : { type: 'command', offset: o.at, cmd: s.cmd, data: s.data });
    o.u8(0x08).be16(s.cmd).be16(s.data.length).raw(s.data);
    if (s.packaged) o.raw(s.packaged);
  };
  const section = (s: Sec) => {
    if (s.kind === 'part') {
      o.item({ type: 'section', offset: o.at, header: { ...ramStart, kind: 'part' } });
      o.u8(0x02).be32(spec.ramId);
      s.recs.forEach(record);
      eos();
      footer(spec.ramId);
    } else if (s.kind === 'device') device(s);
    else command(s);
  };

  // RAM START: MEM_SIZE and the block list, EOS
  o.item({ type: 'section', offset: o.at, header: ramStart });
  o.u8(0x01).be32(spec.ramId).str8('ram').be32(0).be32(4);
  const total = spec.blocks.reduce((n, b) => n + b.pages * PAGE, 0);
  const blocks: RamBlockInfo[] = spec.blocks.map((b) => (ignoreShared ? { idstr: b.idstr, usedLength: b.pages * PAGE, addr: b.addr } : { idstr: b.idstr, usedLength: b.pages * PAGE }));
  o.item({ type: 'ram-blocks', offset: o.at, totalBytes: total, blocks });
  o.be64(total + 0x04);
  for (const b of spec.blocks) {
    o.str8(b.idstr).be64(b.pages * PAGE);
    if (ignoreShared) o.be64(b.addr);
  }
  eos();
  footer(spec.ramId);
  spec.middle.forEach(section);
  // RAM END
  o.item({ type: 'section', offset: o.at, header: { ...ramStart, kind: 'end' } });
  o.u8(0x03).be32(spec.ramId);
  spec.endRecs.forEach(record);
  eos();
  footer(spec.ramId);
  spec.devices.forEach(section);
  o.item({ type: 'eof', offset: o.at });
  o.u8(0x00);
  if (spec.vmdesc !== undefined) {
    const json = new TextEncoder().encode(spec.vmdesc);
    o.item({ type: 'vmdesc', offset: o.at, json });
    o.u8(0x06).be32(json.length).raw(json);
  }
  return { bytes: Uint8Array.from(o.bytes), items: o.items };
}

// ---------------------------------------------------------------- arbitraries

const idChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./:@-_é'.split(''));
const name = (max: number) => fc.string({ unit: idChar, minLength: 1, maxLength: max });

const tinyState: fc.Arbitrary<TinyState> = fc.record({
  version: fc.integer({ min: 1, max: 3 }),
  flags: fc.nat({ max: 0xffffffff }),
  mode: fc.nat({ max: 0xff }),
  regs: fc.array(fc.nat({ max: 0xffff }), { maxLength: 4 }),
  extra: fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { nil: undefined }),
  blob: fc.option(fc.uint8Array({ maxLength: 6 }), { nil: undefined }),
});

const command: fc.Arbitrary<Sec> = fc.oneof(
  fc.constantFrom(1, 4, 5, 8, 9, 11).map((cmd): Sec => ({ kind: 'command', cmd, data: new Uint8Array(0) })),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((data): Sec => ({ kind: 'command', cmd: 2, data })),
  fc.constantFrom(0, 16).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((data): Sec => ({ kind: 'command', cmd: 3, data })),
  fc.tuple(fc.constantFrom(6, 10), fc.uint8Array({ maxLength: 24 })).map(([cmd, data]): Sec => ({ kind: 'command', cmd, data })),
  fc.uint8Array({ maxLength: 12 }).map((packaged): Sec => ({ kind: 'command', cmd: 7, data: Uint8Array.from([0, 0, 0, packaged.length]), packaged })),
);

function recArb(nBlocks: number, pages: number[]): fc.Arbitrary<Rec> {
  const where = fc.nat({ max: nBlocks - 1 }).chain((block) => fc.record({ block: fc.constant(block), page: fc.nat({ max: pages[block]! - 1 }), named: fc.boolean() }));
  return fc.oneof(
    { weight: 1, arbitrary: fc.tuple(where, fc.nat({ max: 255 })).map(([w, seed]): Rec => ({ kind: 'page', ...w, data: Uint8Array.from({ length: PAGE }, (_, i) => (i * 31 + seed) & 0xff) })) },
    { weight: 6, arbitrary: fc.tuple(where, fc.oneof(fc.constant(0), fc.nat({ max: 255 }))).map(([w, fill]): Rec => ({ kind: 'zero', ...w, fill })) },
    { weight: 2, arbitrary: fc.tuple(where, fc.uint8Array({ maxLength: 40 })).map(([w, data]): Rec => ({ kind: 'xbzrle', ...w, data })) },
    { weight: 2, arbitrary: fc.tuple(where, fc.uint8Array({ maxLength: 40 })).map(([w, data]): Rec => ({ kind: 'compressed', ...w, data })) },
    { weight: 1, arbitrary: fc.constant<Rec>({ kind: 'flush' }) },
  );
}

const streamSpec: fc.Arbitrary<StreamSpec> = fc
  .record({
    footers: fc.boolean(),
    config: fc.option(
      fc.record({
        machine: name(40),
        pageBits: fc.boolean(),
        caps: fc.subarray(['x-ignore-shared', 'mapped-ram', 'validate-uuid']),
        uuid: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined }),
      }),
      { nil: undefined },
    ),
    ids: fc.uniqueArray(fc.nat({ max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
    blocks: fc.uniqueArray(fc.record({ idstr: name(40), pages: fc.integer({ min: 1, max: 4 }), addr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { minLength: 1, maxLength: 3, selector: (b) => b.idstr }),
    vmdesc: fc.option(fc.json({ maxDepth: 2 }), { nil: undefined }),
  })
  .chain(({ ids, blocks, ...rest }) => {
    const rec = recArb(blocks.length, blocks.map((b) => b.pages));
    const dev = (i: number) =>
      fc.record({
        kind: fc.constant('device' as const),
        sectionId: fc.constant(ids[i]!),
        idstr: fc.constantFrom('tiny-dev', '0000:00:04.0/tiny-dev', '0000:00:1f.2/tiny-dev'),
        instance: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
        state: tinyState,
      });
    const middle = fc.array(fc.oneof(fc.record({ kind: fc.constant('part' as const), recs: fc.array(rec, { maxLength: 6 }) }), command, dev(1)), { maxLength: 4 });
    return fc.record({
      footers: fc.constant(rest.footers),
      config: fc.constant(rest.config),
      ramId: fc.constant(ids[0]!),
      blocks: fc.constant(blocks),
      middle,
      endRecs: fc.array(rec, { maxLength: 4 }),
      devices: fc.array(fc.oneof(dev(2), dev(3), dev(4), command), { maxLength: 4 }),
      vmdesc: fc.constant(rest.vmdesc),
    });
  });

// ---------------------------------------------------------------- outcome of decoding untrusted bytes

type Outcome = { ok: true; items: StreamItem[] } | { ok: false; error: VmigError; where: 'push' | 'end' };

/**
 * Decode in chunks of `chunk` bytes (0: one push). Only VmigErrors may escape
 * the decoder; push() never reports truncation and end() reports nothing else.
 */
function decodeUntrusted(bytes: Uint8Array, chunk = 0, options: StreamDecoderOptions = { resolve: resolveTiny }): Outcome {
  const d = new StreamDecoder(options);
  const items: StreamItem[] = [];
  try {
    if (chunk <= 0) items.push(...d.push(bytes));
    else for (let at = 0; at < bytes.length; at += chunk) items.push(...d.push(bytes.subarray(at, at + chunk)));
  } catch (err) {
    if (!(err instanceof VmigError)) throw err;
    assert.ok(!(err instanceof TruncatedError), `push() threw a TruncatedError: ${err.message}`);
    assert.match(err.code, /^ERR_[A-Z_]+$/);
    return { ok: false, error: err, where: 'push' };
  }
  try {
    d.end();
  } catch (err) {
    if (!(err instanceof VmigError)) throw err;
    assert.ok(err instanceof TruncatedError, `end() threw ${err.name} ${err.code}: ${err.message}`);
    assert.equal(err.code, 'ERR_STREAM_TRUNCATED');
    return { ok: false, error: err, where: 'end' };
  }
  return { ok: true, items };
}

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'be32'; at: number; value: number }
  | { kind: 'truncate'; at: number };

const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x1000000, 0x1000001, 0x4000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type MutationOp = DistOmit<Mutation, 'at'>;
interface Placed {
  /** Index of the model item whose offset (plus delta) places the mutation: framing bytes, not page data. */
  item: number;
  delta: number;
  /** When ≥ 0, an absolute position instead. */
  anywhere: number;
  op: MutationOp;
}

const mutationOp: fc.Arbitrary<MutationOp> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('be32' as const), value: fc.constantFrom(...INTERESTING_32) }),
  fc.record({ kind: fc.constant('truncate' as const) }),
);

const placed: fc.Arbitrary<Placed> = fc.record({
  item: fc.nat(),
  delta: fc.nat({ max: 24 }),
  anywhere: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat() }),
  op: mutationOp,
});

function applyMutations(bytes: Uint8Array, items: StreamItem[], ms: Placed[]): Uint8Array {
  let b = Array.from(bytes);
  for (const { item, delta, anywhere, op } of ms) {
    if (b.length === 0) break;
    const base = anywhere >= 0 ? anywhere : items[item % items.length]!.offset + delta;
    const at = base % b.length;
    switch (op.kind) {
      case 'set':
        b[at] = op.value;
        break;
      case 'flip':
        b[at] = b[at]! ^ (1 << op.bit);
        break;
      case 'insert':
        b.splice(at, 0, ...op.bytes);
        break;
      case 'delete':
        b.splice(at, op.n);
        break;
      case 'be32':
        for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (op.value >>> (24 - 8 * i)) & 0xff;
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
    }
  }
  return Uint8Array.from(b);
}

// ---------------------------------------------------------------- properties

describe('stream codec properties (fast-check)', () => {
  it('random valid streams decode to the model\'s items and encodeItems gives the bytes back', () => {
    fc.assert(
      fc.property(streamSpec, (spec) => {
        const { bytes, items } = writeStream(spec);
        const decoded = decodeStream(bytes, { resolve: resolveTiny, footers: spec.footers ? 'required' : 'absent', configuration: spec.config ? 'required' : 'absent' });
        assert.deepEqual(decoded, items);
        assert.deepEqual(encodeItems(decoded, resolveTiny), bytes);
      }),
      { numRuns: 150 },
    );
  });

  it('random valid streams decode alike whatever the chunk sizes', () => {
    fc.assert(
      fc.property(streamSpec, fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }), (spec, sizes) => {
        const { bytes, items } = writeStream(spec);
        const d = new StreamDecoder({ resolve: resolveTiny });
        const got: StreamItem[] = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const n = sizes[i % sizes.length]!;
          got.push(...d.push(bytes.subarray(at, at + n)));
          at += n;
        }
        d.end();
        assert.deepEqual(got, items);
      }),
      { numRuns: 100 },
    );
  });

  it('random strict prefixes of valid streams wait in push() and fail in end() with ERR_STREAM_TRUNCATED', () => {
    fc.assert(
      fc.property(streamSpec, fc.nat(), (spec, cutSeed) => {
        const { bytes, items } = writeStream(spec);
        const eof = items.find((i) => i.type === 'eof')!;
        const cut = cutSeed % bytes.length;
        fc.pre(cut !== eof.offset + 1);
        const out = decodeUntrusted(bytes.subarray(0, cut));
        assert.equal(out.ok, false);
        if (!out.ok) assert.equal(out.where, 'end');
      }),
      { numRuns: 150 },
    );
  });

  it('mutated, extended and shortened valid streams end in items or a VmigError, never another exception', () => {
    fc.assert(
      fc.property(streamSpec, fc.array(placed, { minLength: 1, maxLength: 4 }), fc.constantFrom(0, 7, 13, 4096), (spec, ms, chunk) => {
        const { bytes, items } = writeStream(spec);
        const mutated = applyMutations(bytes, items, ms);
        const out = decodeUntrusted(mutated, chunk);
        if (chunk !== 0) {
          // However it is fed, the verdict is the same.
          const whole = decodeUntrusted(mutated, 0);
          assert.equal(out.ok, whole.ok);
          if (!out.ok && !whole.ok) assert.equal(out.error.code, whole.error.code);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('random bytes after a valid header end in items or a VmigError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        decodeUntrusted(cat(HEADER, tail));
        decodeUntrusted(cat(HEADER, tail), 1);
      }),
      { numRuns: 400 },
    );
  });

  it('huge claimed lengths fail or wait without allocating what they claim', () => {
    const ramStart = hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04 | 00 00 00 00 00 00 10 04 | 06 "pc.ram" | 00 00 00 00 00 00 10 00 | 00 00 00 00 00 00 00 10');
    const be32 = (v: number) => Uint8Array.from([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
    const be16 = (v: number) => Uint8Array.from([v >>> 8, v & 0xff]);
    const cases = fc.oneof(
      fc.integer({ min: 3, max: 0xffffffff }).map((n) => cat(HEADER, hex('00 06'), be32(n), hex('"{}"'))),
      fc.nat({ max: 0xffffffff }).map((n) => cat(HEADER, hex('08 00 07 00 04'), be32(n), hex('7E 7E'))),
      fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([cmd, len]) => cat(HEADER, hex('08'), be16(cmd), be16(len), hex('7E 7E 7E 7E'))),
      fc.nat({ max: 0xffffffff }).map((n) => cat(HEADER, hex('07'), be32(n), hex('"pc"'))),
      fc.nat({ max: 0xffffffff }).map((n) => cat(HEADER, hex('07 00 00 00 02 "pc" 05 1A "configuration/capabilities" 00 00 00 01'), be32(n), hex('01 "a"'))),
      fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((pages) => {
        const word = (pages << 12n) | 4n;
        return cat(HEADER, hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04'), be32(Number(word >> 32n)), be32(Number(word & 0xffffffffn)), hex('06 "pc.ram" 00 00 01 00 00 00 00 00'));
      }),
      fc.nat({ max: 0xffff }).map((n) => cat(HEADER, ramStart, hex('02 00 00 00 02 | 00 00 00 00 00 00 00 40 06 "pc.ram" 01'), be16(n), hex('00'))),
      fc.nat({ max: 0xffffffff }).map((n) => cat(HEADER, ramStart, hex('02 00 00 00 02 | 00 00 00 00 00 00 01 00 06 "pc.ram"'), be32(n), hex('00'))),
      fc.nat({ max: 0xff }).map((n) => cat(HEADER, hex('04 00 00 00 06 08 "tiny-dev" 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 05 0D "tiny-dev/blob" 00 00 00 02'), [n], hex('7E'))),
    );
    const before = process.memoryUsage().arrayBuffers;
    fc.assert(
      fc.property(cases, (bytes) => {
        const t0 = performance.now();
        const out = decodeUntrusted(bytes);
        assert.equal(out.ok, false, 'a few bytes cannot hold what the lengths claim');
        assert.ok(performance.now() - t0 < 250, 'decoding a short input took long');
      }),
      { numRuns: 300 },
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 << 20, 'decoding short inputs allocated more than 32 MiB');
  });
});

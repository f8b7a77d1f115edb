/**
 * Test-only helpers for the stream tests (imported by *.test.ts, never by
 * the codec): annotated hex listings, a tiny device description and its
 * SectionCodec, and a hand-written stream whose items are known.
 *
 * Golden bytes here are typed from research/qemu-wire-format.md §1, not
 * produced by the encoder under test.
 */

import { ByteReader, ByteWriter } from '../core/index.js';
import type { VmState, Vmsd } from '../vmstate/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import type { SectionCodec, SectionHeader, SectionResolver, StreamItem } from './items.js';

/**
 * Bytes from an annotated listing: two-digit hex bytes, "quoted ASCII",
 * `|` separators and `# comments` to the end of the line.
 */
export function hex(listing: string): Uint8Array {
  const out: number[] = [];
  const re = /#[^\n]*|"([^"]*)"|([0-9a-fA-F]{2})|(\|)|(\s+)|(.)/g;
  for (const m of listing.matchAll(re)) {
    if (m[1] !== undefined) for (const ch of m[1]) out.push(ascii1(ch));
    else if (m[2] !== undefined) out.push(parseInt(m[2], 16));
    else if (m[5] !== undefined) throw new Error(`hex(): unexpected ${JSON.stringify(m[5])} in listing`);
  }
  return Uint8Array.from(out);
}

function ascii1(ch: string): number {
  const c = ch.charCodeAt(0);
  if (c > 0x7e) throw new Error('hex(): non-ASCII in quoted string');
  return c;
}

export function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A 4096-byte page whose bytes depend on `seed` (never all equal). */
export function page(seed: number, size = 4096): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return p;
}

export const HEADER = hex('51 45 56 4D | 00 00 00 03');

// ---------------------------------------------------------------- a tiny device

/**
 * "tiny-dev" v3 (minimum 1):
 *   be32 flags · u8 mode · [v≥2: be16 count · count × be16 regs]
 *   subsections "tiny-dev/extra" v1 (be64 extra), "tiny-dev/blob" v2 (u8 len · len bytes)
 */
export const tinyVmsd: Vmsd = {
  name: 'tiny-dev',
  version: 3,
  minimumVersion: 1,
  fields: [
    { name: 'flags', type: { kind: 'int', type: 'uint32' } },
    { name: 'mode', type: { kind: 'int', type: 'uint8' } },
    { name: 'count', type: { kind: 'int', type: 'uint16' }, version: 2 },
    { name: 'regs', type: { kind: 'int', type: 'uint16' }, count: { field: ['count'] }, version: 2 },
  ],
  subsections: [
    { name: 'tiny-dev/extra', version: 1, needed: (s) => s.extra !== undefined, fields: [{ name: 'extra', type: { kind: 'int', type: 'uint64' } }] },
    {
      name: 'tiny-dev/blob',
      version: 2,
      needed: (s) => s.blob !== undefined,
      fields: [
        { name: 'blobLen', type: { kind: 'int', type: 'uint8' } },
        { name: 'blob', type: { kind: 'buffer', size: { field: ['blobLen'] } } },
      ],
    },
  ],
};

export const tinyCodec: SectionCodec = {
  load(r: ByteReader, header: SectionHeader): VmState {
    const state: VmState = {};
    loadState(r, tinyVmsd, state, header.version, { lenient: true });
    return state;
  },
  save(w: ByteWriter, state: VmState, header: SectionHeader): void {
    saveState(w, tinyVmsd, state, {}, undefined, header.version);
  },
};

/** Frames every section whose idstr ends in "tiny-dev"; nothing else. */
export const resolveTiny: SectionResolver = (h) => (h.idstr.endsWith('tiny-dev') ? tinyCodec : undefined);

// ---------------------------------------------------------------- streams with known items

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type ItemNoOffset = DistOmit<StreamItem, 'offset'>;

/** One stretch of hand-written bytes and the item it decodes to (null: none). */
export type Part = [bytes: Uint8Array, item: ItemNoOffset | null];

/** Concatenate parts; each item's offset is the sum of the lengths before it. */
export function assemble(parts: Part[]): { bytes: Uint8Array; items: StreamItem[] } {
  const items: StreamItem[] = [];
  let offset = 0;
  for (const [bytes, item] of parts) {
    if (item) items.push({ ...item, offset } as StreamItem);
    offset += bytes.length;
  }
  return { bytes: cat(...parts.map((p) => p[0])), items };
}

export const RAM_START_HEADER: SectionHeader = { kind: 'start', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 };
export const RAM_PART_HEADER: SectionHeader = { ...RAM_START_HEADER, kind: 'part' };
export const RAM_END_HEADER: SectionHeader = { ...RAM_START_HEADER, kind: 'end' };
export const DEV0_HEADER: SectionHeader = { kind: 'full', sectionId: 5, idstr: '0000:00:04.0/tiny-dev', instanceId: 0, version: 3 };
export const DEV1_HEADER: SectionHeader = { kind: 'full', sectionId: 6, idstr: 'tiny-dev', instanceId: 1, version: 2 };
export const UUID = hex('00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF');
export const VMDESC_JSON = '{"page_size": 4096, "devices": []}';

/**
 * A small complete stream with footers: configuration (with uuid), OPEN_RETURN_PATH,
 * PING, RAM START (2 blocks), PART (page, zero|continue, zero), SWITCHOVER_START,
 * END (page|continue), two FULL tiny-dev sections with subsections, EOF, vmdesc.
 * Options drop the footers or the configuration (a pc-i440fx-2.3 stream).
 */
export function smallStreamParts(opts: { footers?: boolean; configuration?: boolean } = {}): Part[] {
  const footers = opts.footers ?? true;
  const parts: Part[] = [];
  const footer = (id: number, listing: string) => {
    if (footers) parts.push([hex(listing), { type: 'footer', sectionId: id }]);
  };
  parts.push([hex('51 45 56 4D | 00 00 00 03'), { type: 'header', version: 3 }]);
  if (opts.configuration ?? true) {
    const cfg = hex(`07 | 00 00 00 0D | "pc-i440fx-7.2"
      05 | 12 "configuration/uuid" | 00 00 00 01 | 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF`);
    parts.push([cfg, { type: 'configuration', size: cfg.length, config: { machine: 'pc-i440fx-7.2', uuid: UUID } }]);
  }
  parts.push([hex('08 | 00 01 | 00 00'), { type: 'command', cmd: 1, data: new Uint8Array(0) }]);
  parts.push([hex('08 | 00 02 | 00 04 | 00 00 00 01'), { type: 'command', cmd: 2, data: hex('00 00 00 01') }]);
  // RAM START
  parts.push([hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04'), { type: 'section', header: RAM_START_HEADER }]);
  parts.push([
    hex(`00 00 00 00 00 00 30 04                # MEM_SIZE: total 0x3000
         06 "pc.ram" | 00 00 00 00 00 00 20 00  # 2 pages
         06 "pc.rom" | 00 00 00 00 00 00 10 00  # 1 page`),
    { type: 'ram-blocks', totalBytes: 0x3000, blocks: [{ idstr: 'pc.ram', usedLength: 0x2000 }, { idstr: 'pc.rom', usedLength: 0x1000 }] },
  ]);
  parts.push([hex('00 00 00 00 00 00 00 10'), { type: 'ram-eos' }]);
  footer(2, '7E 00 00 00 02');
  // RAM PART
  parts.push([hex('02 | 00 00 00 02'), { type: 'section', header: RAM_PART_HEADER }]);
  parts.push([cat(hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(1)), { type: 'ram-page', flags: 0x08, block: 'pc.ram', addr: 0, data: page(1) }]);
  parts.push([hex('00 00 00 00 00 00 10 22 | 00'), { type: 'ram-zero', flags: 0x22, block: 'pc.ram', addr: 0x1000, fill: 0 }]);
  parts.push([hex('00 00 00 00 00 00 00 02 | 06 "pc.rom" | 00'), { type: 'ram-zero', flags: 0x02, block: 'pc.rom', addr: 0, fill: 0 }]);
  parts.push([hex('00 00 00 00 00 00 00 10'), { type: 'ram-eos' }]);
  footer(2, '7E 00 00 00 02');
  parts.push([hex('08 | 00 0B | 00 00'), { type: 'command', cmd: 11, data: new Uint8Array(0) }]);
  // RAM END: the last block (pc.rom) carries over from the PART
  parts.push([hex('03 | 00 00 00 02'), { type: 'section', header: RAM_END_HEADER }]);
  parts.push([cat(hex('00 00 00 00 00 00 00 28'), page(2)), { type: 'ram-page', flags: 0x28, block: 'pc.rom', addr: 0, data: page(2) }]);
  parts.push([hex('00 00 00 00 00 00 00 10'), { type: 'ram-eos' }]);
  footer(2, '7E 00 00 00 02');
  // FULL 0000:00:04.0/tiny-dev, version 3
  parts.push([hex('04 | 00 00 00 05 | 15 "0000:00:04.0/tiny-dev" | 00 00 00 00 | 00 00 00 03'), { type: 'section', header: DEV0_HEADER }]);
  const dev0 = hex(`DE AD BE EF | 07 | 00 02 | 00 11 00 22          # flags, mode, count, regs
                    05 | 0E "tiny-dev/extra" | 00 00 00 01 | 01 02 03 04 05 06 07 08`);
  parts.push([dev0, { type: 'device-state', size: dev0.length, header: DEV0_HEADER, state: { flags: 0xdeadbeef, mode: 7, count: 2, regs: [0x11, 0x22], extra: 0x0102030405060708n } }]);
  footer(5, '7E 00 00 00 05');
  // FULL tiny-dev instance 1, version 2
  parts.push([hex('04 | 00 00 00 06 | 08 "tiny-dev" | 00 00 00 01 | 00 00 00 02'), { type: 'section', header: DEV1_HEADER }]);
  const dev1 = hex(`00 00 00 01 | 00 | 00 00
                    05 | 0D "tiny-dev/blob" | 00 00 00 02 | 03 | AA BB CC`);
  parts.push([dev1, { type: 'device-state', size: dev1.length, header: DEV1_HEADER, state: { flags: 1, mode: 0, count: 0, regs: [], blobLen: 3, blob: hex('AA BB CC') } }]);
  footer(6, '7E 00 00 00 06');
  parts.push([hex('00'), { type: 'eof' }]);
  parts.push([cat(hex('06 | 00 00 00 22'), new TextEncoder().encode(VMDESC_JSON)), { type: 'vmdesc', json: new TextEncoder().encode(VMDESC_JSON) }]);
  return parts;
}

export function smallStream(opts: { footers?: boolean; configuration?: boolean } = {}): { bytes: Uint8Array; items: StreamItem[] } {
  return assemble(smallStreamParts(opts));
}

// ---------------------------------------------------------------- error helpers

/** Run `fn`, return what it threw (fails when it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw, but the call returned');
}

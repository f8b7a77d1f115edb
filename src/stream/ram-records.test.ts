/**
 * The RAM section payload (research/qemu-wire-format.md §1.10): MEM_SIZE and
 * the block list, every RAM_SAVE_FLAG_* record of QEMU 7.2 and 10.2, the
 * errors QEMU's ram_load_precopy raises, and the encoder's CONTINUE rule.
 * Golden bytes are typed from the research notes.
 */

import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';

import { ByteReader, ByteWriter, MalformedError, TruncatedError } from '../core/index.js';
import type { RamBlockInfo, StreamItem } from './items.js';
import type { RamDecodeState } from './ram-records.js';
import { readRamRecord, writeRamRecord } from './ram-records.js';
import { StreamDecoder, decodeStream } from './stream-decoder.js';
import type { StreamDecoderOptions } from './stream-decoder.js';
import { StreamEncoder, encodeItems } from './stream-encoder.js';
import { HEADER, RAM_PART_HEADER, RAM_START_HEADER, cat, hex, page, thrown } from './stream-test-kit.js';

const START = hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04');
const EOS = hex('00 00 00 00 00 00 00 10');
/** MEM_SIZE 0x3000: pc.ram (2 pages), pc.rom (1 page); EOS; footer. */
const SETUP = hex(`00 00 00 00 00 00 30 04
                   06 "pc.ram" | 00 00 00 00 00 00 20 00
                   06 "pc.rom" | 00 00 00 00 00 00 10 00
                   00 00 00 00 00 00 00 10 | 7E 00 00 00 02`);
const PART = hex('02 | 00 00 00 02');
/** Everything up to the first record of a PART section. */
const PREFIX = cat(HEADER, START, SETUP, PART);
const RECORDS_AT = 81;
const PREFIX_ITEMS = 6; // header, section, ram-blocks, ram-eos, footer, section

/** The items that `records` (after PREFIX) decode to, by one push. */
function records(bytes: Uint8Array, options: StreamDecoderOptions = {}): StreamItem[] {
  return new StreamDecoder(options).push(cat(PREFIX, bytes)).slice(PREFIX_ITEMS);
}

function ramError(bytes: Uint8Array, offset: number, message?: RegExp): MalformedError {
  const err = thrown(() => new StreamDecoder().push(cat(PREFIX, bytes)));
  assert.ok(err instanceof MalformedError, `expected MalformedError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_STREAM_BAD_RAM', err.message);
  assert.equal(err.offset, offset, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

describe('RAM section setup: MEM_SIZE and the block list', () => {
  it('the record prefix used by these tests ends at the hand-computed offset', () => {
    assert.equal(PREFIX.length, RECORDS_AT);
    assert.deepEqual(new StreamDecoder().push(PREFIX).map((i) => [i.type, i.offset]), [
      ['header', 0],
      ['section', 8],
      ['ram-blocks', 25],
      ['ram-eos', 63],
      ['footer', 71],
      ['section', 76],
    ]);
  });

  // The 7.2 pc capture's block list (§1.10): its MEM_SIZE word is 0x00000000020C2004.
  const verifiedBlocks: RamBlockInfo[] = [
    { idstr: 'pc.ram', usedLength: 0x2000000 },
    { idstr: '/rom@etc/acpi/tables', usedLength: 0x20000 },
    { idstr: 'pc.bios', usedLength: 0x40000 },
    { idstr: '0000:00:03.0/virtio-net-pci.rom', usedLength: 0x40000 },
    { idstr: 'pc.rom', usedLength: 0x20000 },
    { idstr: '/rom@etc/table-loader', usedLength: 0x1000 },
    { idstr: '/rom@etc/acpi/rsdp', usedLength: 0x1000 },
  ];
  const verifiedBytes = hex(`00 00 00 00 02 0C 20 04                            # MEM_SIZE word: total 34,349,056 | 0x04
    06 "pc.ram"                          | 00 00 00 00 02 00 00 00
    14 "/rom@etc/acpi/tables"            | 00 00 00 00 00 02 00 00
    07 "pc.bios"                         | 00 00 00 00 00 04 00 00
    1F "0000:00:03.0/virtio-net-pci.rom" | 00 00 00 00 00 04 00 00
    06 "pc.rom"                          | 00 00 00 00 00 02 00 00
    15 "/rom@etc/table-loader"           | 00 00 00 00 00 00 10 00
    12 "/rom@etc/acpi/rsdp"              | 00 00 00 00 00 00 10 00`);

  it('the encoder writes the verified 7.2 block list with MEM_SIZE word 0x00000000020C2004', () => {
    assert.deepEqual(new StreamEncoder().ramBlocks(verifiedBlocks).take(), verifiedBytes);
  });

  it('the decoder reads the verified block list until the announced total is consumed', () => {
    const items = decodeStream(cat(HEADER, START, verifiedBytes, EOS, hex('00')));
    assert.deepEqual(items[2], { type: 'ram-blocks', offset: 25, totalBytes: 34_349_056, blocks: verifiedBlocks });
    assert.deepEqual(items[3], { type: 'ram-eos', offset: 25 + verifiedBytes.length });
  });

  it('with x-ignore-shared in the configuration each block entry carries a be64 address, both ways', () => {
    const cfg = hex('07 | 00 00 00 0D | "pc-i440fx-7.2" | 05 | 1A "configuration/capabilities" | 00 00 00 01 | 00 00 00 01 | 0F "x-ignore-shared"');
    const list = hex(`00 00 00 00 00 00 30 04
                      06 "pc.ram" | 00 00 00 00 00 00 20 00 | 00 00 00 00 00 00 00 00
                      06 "pc.rom" | 00 00 00 00 00 00 10 00 | 00 00 00 00 FF FE 00 00`);
    const bytes = cat(HEADER, cfg, START, list, EOS, hex('00'));
    const items = decodeStream(bytes);
    assert.deepEqual(items[3], {
      type: 'ram-blocks',
      offset: 8 + cfg.length + START.length,
      totalBytes: 0x3000,
      blocks: [
        { idstr: 'pc.ram', usedLength: 0x2000, addr: 0n },
        { idstr: 'pc.rom', usedLength: 0x1000, addr: 0xfffe0000n },
      ],
    });
    assert.deepEqual(encodeItems(items), bytes);
    const enc = new StreamEncoder({ ignoreShared: true }).ramBlocks([
      { idstr: 'pc.ram', usedLength: 0x2000, addr: 0n },
      { idstr: 'pc.rom', usedLength: 0x1000, addr: 0xfffe0000n },
    ]);
    assert.deepEqual(enc.take(), list);
  });

  it('with postcopy page sizes each block entry carries a be64 page size', () => {
    const list = hex('00 00 00 00 00 00 10 04 | 06 "pc.ram" | 00 00 00 00 00 00 10 00 | 00 00 00 00 00 20 00 00');
    const items = decodeStream(cat(HEADER, START, list, EOS, hex('00')), { postcopyPageSizes: true });
    assert.deepEqual(items[2], { type: 'ram-blocks', offset: 25, totalBytes: 0x1000, blocks: [{ idstr: 'pc.ram', usedLength: 0x1000, pageSize: 0x200000 }] });
  });

  const listError = (listing: string, offset: number, message: RegExp) => {
    const err = thrown(() => new StreamDecoder().push(cat(HEADER, START, hex(listing))));
    assert.ok(err instanceof MalformedError, String(err));
    assert.equal(err.code, 'ERR_STREAM_BAD_RAM');
    assert.equal(err.offset, offset);
    assert.match(err.message, message);
  };

  it('a block longer than what remains of the announced total is rejected', () => {
    listError('00 00 00 00 00 00 10 04 | 06 "pc.ram" | 00 00 00 00 00 00 20 00', 25 + 8 + 7, /overruns/);
  });

  it('a block with an empty name is rejected (QEMU\'s counted-string reader fails on length 0)', () => {
    listError('00 00 00 00 00 00 10 04 | 00 | 00 00 00 00 00 00 10 00', 33, /empty name/);
  });

  it('a block of length 0, of a length that is not page-aligned, or above 1 TiB is rejected', () => {
    listError('00 00 00 00 00 00 10 04 | 01 "a" | 00 00 00 00 00 00 00 00', 35, /invalid length/);
    listError('00 00 00 00 00 00 10 04 | 01 "a" | 00 00 00 00 00 00 08 00', 35, /invalid length/);
    listError('FF FF FF FF FF FF F0 04 | 01 "a" | 00 00 01 00 00 00 10 00', 35, /invalid length/);
  });

  it('the same block name twice in one list is rejected', () => {
    listError('00 00 00 00 00 00 20 04 | 01 "a" | 00 00 00 00 00 00 10 00 | 01 "a" | 00 00 00 00 00 00 10 00', 43, /listed twice/);
  });

  it('more than 4096 blocks in one list are rejected before reading a 4097th entry', () => {
    const n = 4097;
    const w = new ByteWriter();
    w.u64beHalves(0, n * 0x1000 + 0x04);
    for (let i = 0; i < n; i++) w.str8(`b${i}`).u64beHalves(0, 0x1000);
    const err = thrown(() => new StreamDecoder().push(cat(HEADER, START, w.finish())));
    assert.ok(err instanceof MalformedError);
    assert.match(err.message, /too many RAM blocks/);
  });

  it('a MEM_SIZE total of nearly 2^64 waits for block entries without allocating, and is truncated at end()', () => {
    const before = process.memoryUsage().arrayBuffers;
    const d = new StreamDecoder();
    const items = d.push(cat(HEADER, START, hex('FF FF FF FF FF FF F0 04 | 06 "pc.ram" | 00 00 01 00 00 00 00 00')));
    assert.equal(items.length, 2);
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 << 20);
    const err = thrown(() => d.end());
    assert.ok(err instanceof TruncatedError);
    assert.equal(err.code, 'ERR_STREAM_TRUNCATED');
  });
});

describe('RAM page records', () => {
  it('PAGE with a block name is be64 offset|0x08, str8 name, 4096 raw bytes, both ways', () => {
    const bytes = cat(hex('00 00 00 00 00 00 10 08 | 06 "pc.ram"'), page(9));
    assert.deepEqual(records(bytes), [{ type: 'ram-page', offset: RECORDS_AT, flags: 0x08, block: 'pc.ram', addr: 0x1000, data: page(9) }]);
    assert.deepEqual(new StreamEncoder().ramPage('pc.ram', 0x1000, page(9)).take(), bytes);
  });

  it('ZERO|CONTINUE is the verified record 00 00 00 00 00 00 10 22 00 after a named record of the same block', () => {
    const named = cat(hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(1));
    const zero = hex('00 00 00 00 00 00 10 22 | 00');
    assert.deepEqual(records(cat(named, zero))[1], { type: 'ram-zero', offset: RECORDS_AT + named.length, flags: 0x22, block: 'pc.ram', addr: 0x1000, fill: 0 });
    assert.deepEqual(new StreamEncoder().ramPage('pc.ram', 0, page(1)).ramZero('pc.ram', 0x1000).take(), cat(named, zero));
  });

  it('the verified first PART of the 7.2 capture decodes: a named page, then ZERO|CONTINUE records with fill 00', () => {
    const bytes = cat(hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(3), hex('00 00 00 00 00 00 10 22 | 00'), EOS);
    assert.deepEqual(
      records(bytes).map((i) => (i.type === 'ram-zero' ? [i.type, i.flags, i.block, i.addr, i.fill] : i.type === 'ram-page' ? [i.type, i.flags, i.block, i.addr] : [i.type])),
      [['ram-page', 0x08, 'pc.ram', 0], ['ram-zero', 0x22, 'pc.ram', 0x1000, 0], ['ram-eos']],
    );
  });

  it('ZERO carries its fill byte, including a non-zero one, both ways', () => {
    const bytes = hex('00 00 00 00 00 00 00 02 | 06 "pc.rom" | AB');
    assert.deepEqual(records(bytes), [{ type: 'ram-zero', offset: RECORDS_AT, flags: 0x02, block: 'pc.rom', addr: 0, fill: 0xab }]);
    assert.deepEqual(new StreamEncoder().ramZero('pc.rom', 0, 0xab).take(), bytes);
  });

  it('XBZRLE is u8 0x01, be16 length and the encoded bytes, with and without a block name, both ways', () => {
    const bytes = hex(`00 00 00 00 00 00 10 40 | 06 "pc.ram" | 01 | 00 03 | 11 22 33
                       00 00 00 00 00 00 00 60 | 01 | 00 00`);
    const items = records(bytes);
    assert.deepEqual(items, [
      { type: 'ram-xbzrle', offset: RECORDS_AT, flags: 0x40, block: 'pc.ram', addr: 0x1000, data: hex('11 22 33') },
      { type: 'ram-xbzrle', offset: RECORDS_AT + 21, flags: 0x60, block: 'pc.ram', addr: 0, data: new Uint8Array(0) },
    ]);
    const enc = new StreamEncoder();
    for (const i of items) enc.item(i);
    assert.deepEqual(enc.take(), bytes);
  });

  it('XBZRLE with an encoding flag other than 0x01 is rejected', () => {
    ramError(hex('00 00 00 00 00 00 00 40 | 06 "pc.ram" | 02 | 00 01 | 00'), RECORDS_AT + 15, /encoding flag/);
  });

  it('XBZRLE longer than a page is rejected at once; exactly a page waits for the data', () => {
    ramError(hex('00 00 00 00 00 00 00 40 | 06 "pc.ram" | 01 | 10 01'), RECORDS_AT + 16, /exceeds a page/);
    ramError(hex('00 00 00 00 00 00 00 40 | 06 "pc.ram" | 01 | FF FF'), RECORDS_AT + 16, /exceeds a page/);
    assert.deepEqual(records(hex('00 00 00 00 00 00 00 40 | 06 "pc.ram" | 01 | 10 00')), []);
  });

  it('COMPRESS_PAGE (7.2) is be32 length and zlib bytes, with and without a block name, both ways', () => {
    const bytes = hex(`00 00 00 00 00 00 01 00 | 06 "pc.ram" | 00 00 00 04 | 78 9C 03 00
                       00 00 00 00 00 00 11 20 | 00 00 00 02 | 78 9C`);
    const items = records(bytes);
    assert.deepEqual(items, [
      { type: 'ram-compressed', offset: RECORDS_AT, flags: 0x100, block: 'pc.ram', addr: 0, data: hex('78 9C 03 00') },
      { type: 'ram-compressed', offset: RECORDS_AT + 23, flags: 0x120, block: 'pc.ram', addr: 0x1000, data: hex('78 9C') },
    ]);
    const enc = new StreamEncoder();
    for (const i of items) enc.item(i);
    assert.deepEqual(enc.take(), bytes);
  });

  it('COMPRESS_PAGE longer than compressBound(4096) = 4110 is rejected at once, as ram_load_precopy does', () => {
    ramError(hex('00 00 00 00 00 00 01 00 | 06 "pc.ram" | 00 00 10 0F'), RECORDS_AT + 15, /compressed page length/);
    ramError(hex('00 00 00 00 00 00 01 00 | 06 "pc.ram" | FF FF FF FF'), RECORDS_AT + 15, /compressed page length/);
    assert.deepEqual(records(hex('00 00 00 00 00 00 01 00 | 06 "pc.ram" | 00 00 10 0E')), []);
  });

  it('MULTIFD_FLUSH (10.2) is the bare word 0x200, both ways', () => {
    const bytes = hex('00 00 00 00 00 00 02 00');
    assert.deepEqual(records(bytes), [{ type: 'ram-multifd-flush', offset: RECORDS_AT }]);
    assert.deepEqual(new StreamEncoder().item({ type: 'ram-multifd-flush', offset: 0 }).take(), bytes);
  });

  it('EOS is the word 0x10; it ends the RAM payload and the section footer follows', () => {
    const bytes = cat(EOS, hex('7E 00 00 00 02'));
    assert.deepEqual(records(bytes), [
      { type: 'ram-eos', offset: RECORDS_AT },
      { type: 'footer', offset: RECORDS_AT + 8, sectionId: 2 },
    ]);
    assert.deepEqual(new StreamEncoder().ramEos().take(), EOS);
  });

  it('a record naming its block again without CONTINUE is accepted and re-encoded as it was', () => {
    const bytes = cat(hex('00 00 00 00 00 00 00 02 | 06 "pc.ram" | 00 | 00 00 00 00 00 00 10 02 | 06 "pc.ram" | 00'), EOS, hex('00'));
    const full = cat(PREFIX, bytes);
    const items = decodeStream(full);
    assert.deepEqual(items.slice(PREFIX_ITEMS, PREFIX_ITEMS + 2).map((i) => (i.type === 'ram-zero' ? i.flags : -1)), [0x02, 0x02]);
    assert.deepEqual(encodeItems(items), full);
  });

  it('the last block named persists across sections: a CONTINUE record in END refers to the block named in PART', () => {
    const bytes = cat(
      hex('00 00 00 00 00 00 00 02 | 06 "pc.rom" | 00'),
      EOS,
      hex('03 | 00 00 00 02'),
      hex('00 00 00 00 00 00 00 22 | 07'),
      EOS,
    );
    const zero = records(bytes).filter((i) => i.type === 'ram-zero');
    assert.deepEqual(zero.map((i) => (i.type === 'ram-zero' ? [i.block, i.flags, i.fill] : [])), [['pc.rom', 0x02, 0], ['pc.rom', 0x22, 7]]);
  });
});

describe('RAM record errors (ram_load_precopy)', () => {
  it('a record naming a block that MEM_SIZE did not announce is rejected at the name', () => {
    ramError(hex('00 00 00 00 00 00 00 08 | 06 "pc.rAm"'), RECORDS_AT + 8, /Unknown RAM block "pc.rAm"/);
  });

  it('CONTINUE before any record named a block is rejected', () => {
    ramError(hex('00 00 00 00 00 00 00 22 | 00'), RECORDS_AT, /CONTINUE/);
    ramError(hex('00 00 00 00 00 00 00 28'), RECORDS_AT, /CONTINUE/);
  });

  it('an offset at or beyond the end of its block is rejected, named or by CONTINUE', () => {
    ramError(hex('00 00 00 00 00 00 20 02 | 06 "pc.ram" | 00'), RECORDS_AT, /Illegal RAM offset 0x2000/);
    ramError(hex('00 00 00 00 00 00 10 02 | 06 "pc.rom" | 00'), RECORDS_AT, /Illegal RAM offset 0x1000/);
    ramError(hex('00 00 00 00 00 00 00 02 | 06 "pc.rom" | 00 | 00 00 00 01 00 00 00 22 | 00'), RECORDS_AT + 16, /Illegal RAM offset/);
    assert.equal(records(hex('00 00 00 00 00 00 10 02 | 06 "pc.ram" | 00')).length, 1);
  });

  it('RAM_SAVE_FLAG_HOOK (RDMA) is rejected as unsupported', () => {
    ramError(hex('00 00 00 00 00 00 00 80'), RECORDS_AT, /HOOK/);
  });

  it('flag combinations QEMU does not know are rejected, including FULL, no flag at all and bits above 0x200', () => {
    for (const flags of [0x000, 0x001, 0x00a, 0x00c, 0x018, 0x028 | 0x040, 0x048, 0x082, 0x300, 0x400, 0x800, 0xfff]) {
      const word = `00 00 00 00 00 00 ${((flags >> 8) & 0xff).toString(16).padStart(2, '0')} ${(flags & 0xff).toString(16).padStart(2, '0')}`;
      ramError(hex(`${word} | 06 "pc.ram" | 00`), RECORDS_AT, /Unknown combination|HOOK/);
    }
  });

  it('a RAM section with a version other than 4 is rejected', () => {
    for (const v of ['00 00 00 03', '00 00 00 05', '00 00 00 00']) {
      const err = thrown(() => new StreamDecoder().push(cat(HEADER, hex(`01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | ${v}`))));
      assert.ok(err instanceof MalformedError);
      assert.equal(err.code, 'ERR_STREAM_MALFORMED');
      assert.match(err.message, /RAM section version/);
    }
  });
});

describe('readRamRecord and writeRamRecord directly', () => {
  const fresh = (): RamDecodeState => ({
    pageSize: 4096,
    blocks: new Map([['pc.ram', { idstr: 'pc.ram', usedLength: 0x2000 }], ['pc.rom', { idstr: 'pc.rom', usedLength: 0x1000 }]]),
    lastBlock: undefined,
    ignoreShared: false,
    postcopyPageSizes: false,
  });

  it('a record cut inside its page throws TruncatedError saying how many bytes are missing', () => {
    const bytes = cat(hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(1).subarray(0, 100));
    const err = thrown(() => readRamRecord(new ByteReader(bytes), fresh()));
    assert.ok(err instanceof TruncatedError);
    assert.equal(err.details.needed, 4096 - 100);
  });

  it('a truncated record leaves the decode state unchanged (the last block is set only once the record is whole)', () => {
    const st = fresh();
    st.lastBlock = st.blocks.get('pc.rom');
    const bytes = cat(hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(1).subarray(0, 10));
    assert.ok(thrown(() => readRamRecord(new ByteReader(bytes), st)) instanceof TruncatedError);
    assert.equal(st.lastBlock?.idstr, 'pc.rom');
  });

  it('a failed block list leaves the announced blocks unchanged', () => {
    const st = fresh();
    const bytes = hex('00 00 00 00 00 00 20 04 | 01 "x" | 00 00 00 00 00 00 10 00 | 01 "y" | 00 00 00 00 00 00 20 00');
    assert.ok(thrown(() => readRamRecord(new ByteReader(bytes), st)) instanceof MalformedError);
    assert.deepEqual([...st.blocks.keys()], ['pc.ram', 'pc.rom']);
  });

  it('writeRamRecord refuses items that are not RAM records with a RangeError (a caller bug, not bad input)', () => {
    assert.throws(() => writeRamRecord(new ByteWriter(), { type: 'eof', offset: 0 }, { ignoreShared: false, postcopyPageSizes: false }), RangeError);
  });
});

describe('the encoder sets CONTINUE by itself', () => {
  it('pages of the same block as the previous record get CONTINUE and no name; a block change names the block', () => {
    const enc = new StreamEncoder();
    enc.ramPage('pc.ram', 0, page(1)).ramPage('pc.ram', 0x1000, page(2)).ramZero('pc.ram', 0).ramZero('pc.rom', 0, 5).ramPage('pc.rom', 0, page(3)).ramZero('pc.ram', 0x1000);
    const expected = cat(
      hex('00 00 00 00 00 00 00 08 | 06 "pc.ram"'), page(1),
      hex('00 00 00 00 00 00 10 28'), page(2),
      hex('00 00 00 00 00 00 00 22 | 00'),
      hex('00 00 00 00 00 00 00 02 | 06 "pc.rom" | 05'),
      hex('00 00 00 00 00 00 00 28'), page(3),
      hex('00 00 00 00 00 00 10 02 | 06 "pc.ram" | 00'),
    );
    assert.deepEqual(enc.take(), expected);
  });

  it('the last block carries over EOS, footers and section headers, as QEMU\'s last_sent_block does', () => {
    const enc = new StreamEncoder();
    enc.ramPage('pc.ram', 0, page(1)).ramEos().footer(2).sectionHeader(RAM_PART_HEADER).ramZero('pc.ram', 0x1000);
    const out = enc.take();
    assert.deepEqual(out.subarray(out.length - 9), hex('00 00 00 00 00 00 10 22 | 00'));
  });

  it('a stream written with ramPage/ramZero decodes back to the same blocks, addresses and payloads', () => {
    const enc = new StreamEncoder();
    enc.header().sectionHeader(RAM_START_HEADER).ramBlocks([{ idstr: 'pc.ram', usedLength: 0x2000 }, { idstr: 'pc.rom', usedLength: 0x1000 }]).ramEos().footer(2);
    enc.sectionHeader(RAM_PART_HEADER).ramPage('pc.rom', 0, page(4)).ramZero('pc.ram', 0x1000, 9).ramPage('pc.ram', 0, page(5)).ramEos().footer(2).eof();
    const items = decodeStream(enc.take());
    const recs = items.filter((i) => i.type === 'ram-page' || i.type === 'ram-zero');
    assert.deepEqual(recs.map((i) => [i.type, i.block, i.type === 'ram-page' || i.type === 'ram-zero' ? i.addr : -1, i.type === 'ram-page' ? i.data : i.type === 'ram-zero' ? i.fill : -1]), [
      ['ram-page', 'pc.rom', 0, page(4)],
      ['ram-zero', 'pc.ram', 0x1000, 9],
      ['ram-page', 'pc.ram', 0, page(5)],
    ]);
  });
});

// ---------------------------------------------------------------- a real QEMU 7.2 stream

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(here, '../../../../shared/fixtures/qemu-7.2/plain-1q/stream.bin.gz');

async function fixtureHead(bytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  const gunzip = createReadStream(FIXTURE).pipe(createGunzip());
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= bytes) break;
  }
  gunzip.destroy();
  return new Uint8Array(Buffer.concat(chunks).subarray(0, bytes));
}

describe('a real QEMU 7.2 stream (shared/fixtures/qemu-7.2/plain-1q)', { skip: existsSync(FIXTURE) ? false : 'fixture not present' }, () => {
  it('its first 256 KiB decode to the q35 configuration, the block list and pages, and re-encode byte-identically', async () => {
    const head = await fixtureHead(256 << 10);
    const d = new StreamDecoder({ footers: 'required', configuration: 'required' });
    const items = d.push(head);
    assert.deepEqual(items[1], { type: 'configuration', offset: 8, size: 15, config: { machine: 'pc-q35-7.2' } });
    assert.deepEqual(items[2], { type: 'section', offset: 23, header: RAM_START_HEADER });
    const blocks = items[3];
    assert.equal(blocks?.type, 'ram-blocks');
    if (blocks?.type !== 'ram-blocks') return;
    assert.equal(blocks.totalBytes, blocks.blocks.reduce((n, b) => n + b.usedLength, 0));
    assert.deepEqual(blocks.blocks[0], { idstr: 'pc.ram', usedLength: 96 << 20 });
    assert.ok(blocks.blocks.some((b) => b.idstr === '/rom@etc/acpi/rsdp'));
    assert.ok(items.filter((i) => i.type === 'ram-page').length > 10);
    assert.deepEqual(encodeItems(items), head.subarray(0, d.offset));
  });
});


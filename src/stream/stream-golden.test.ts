/**
 * Golden bytes for every framing element of the migration stream outside the
 * RAM payload (research/qemu-wire-format.md §1.2–§1.9), checked both ways:
 * the encoder writes exactly the listed bytes and the decoder turns them into
 * exactly the listed items. The listings are typed from the research notes.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ByteReader, ByteWriter, MalformedError, TruncatedError, VmigError } from '../core/index.js';
import type { SectionCodec, SectionHeader, StreamItem } from './items.js';
import { StreamDecoder, decodeStream } from './stream-decoder.js';
import type { StreamDecoderOptions } from './stream-decoder.js';
import { StreamEncoder, encodeItems } from './stream-encoder.js';
import {
  DEV0_HEADER,
  DEV1_HEADER,
  HEADER,
  RAM_END_HEADER,
  RAM_PART_HEADER,
  RAM_START_HEADER,
  UUID,
  VMDESC_JSON,
  cat,
  hex,
  page,
  resolveTiny,
  smallStream,
  smallStreamParts,
  thrown,
} from './stream-test-kit.js';

/** Items completed by one push (no end(): the stream may be incomplete). */
function pushAll(bytes: Uint8Array, options: StreamDecoderOptions = {}): StreamItem[] {
  return new StreamDecoder(options).push(bytes);
}

function pushError(bytes: Uint8Array, options: StreamDecoderOptions = {}): VmigError {
  const err = thrown(() => new StreamDecoder(options).push(bytes));
  assert.ok(err instanceof VmigError, `expected a VmigError, got ${String(err)}`);
  return err;
}

function malformedAt(bytes: Uint8Array, code: string, offset: number, options: StreamDecoderOptions = {}): MalformedError {
  const err = pushError(bytes, options);
  assert.ok(err instanceof MalformedError, `expected a MalformedError, got ${err.name} ${err.code}: ${err.message}`);
  assert.equal(err.code, code, err.message);
  assert.equal(err.offset, offset, err.message);
  return err;
}

const EOF = hex('00');

// ---------------------------------------------------------------- §1.2 header

describe('file header (§1.2)', () => {
  it('the encoder writes the header as magic "QEVM" then be32 version 3', () => {
    assert.deepEqual(new StreamEncoder().header().take(), hex('51 45 56 4D | 00 00 00 03'));
  });

  it('the decoder reads "QEVM" version 3 as a header item at offset 0', () => {
    assert.deepEqual(pushAll(hex('51 45 56 4D | 00 00 00 03')), [{ type: 'header', offset: 0, version: 3 }]);
  });

  it('version 2 is rejected with ERR_STREAM_BAD_VERSION saying the v2 format is obsolete', () => {
    const err = malformedAt(hex('51 45 56 4D | 00 00 00 02'), 'ERR_STREAM_BAD_VERSION', 4);
    assert.match(err.message, /obsolete/);
  });

  it('versions other than 2 and 3 are rejected as unsupported with ERR_STREAM_BAD_VERSION', () => {
    for (const v of ['00 00 00 00', '00 00 00 04', '03 00 00 00', 'FF FF FF FF']) {
      const err = malformedAt(hex(`51 45 56 4D | ${v}`), 'ERR_STREAM_BAD_VERSION', 4);
      assert.match(err.message, /Unsupported/);
    }
  });

  it('a wrong magic is rejected with ERR_STREAM_BAD_MAGIC at offset 0 as soon as its 4 bytes arrive', () => {
    for (const magic of ['"QEVN"', '"MVEQ"', '00 00 00 00', '"qevm"']) {
      malformedAt(hex(`${magic} | 00 00 00 03`), 'ERR_STREAM_BAD_MAGIC', 0);
      malformedAt(hex(magic), 'ERR_STREAM_BAD_MAGIC', 0);
    }
  });

  it('a stream of only a header fails at end() with ERR_STREAM_TRUNCATED', () => {
    const err = thrown(() => decodeStream(HEADER));
    assert.ok(err instanceof TruncatedError);
    assert.equal(err.code, 'ERR_STREAM_TRUNCATED');
    assert.equal(err.offset, 8);
  });
});

// ---------------------------------------------------------------- §1.3 configuration

describe('configuration section (§1.3)', () => {
  const verified = hex('07 | 00 00 00 0D | "pc-i440fx-7.2"'); // = 07 00 00 00 0d 70 63 2d 69 34 34 30 66 78 2d 37 2e 32

  it('the encoder writes pc-i440fx-7.2 as the verified bytes 07, be32 13, name, with no subsections', () => {
    assert.deepEqual(verified, hex('07 00 00 00 0d 70 63 2d 69 34 34 30 66 78 2d 37 2e 32'));
    assert.deepEqual(new StreamEncoder().configuration({ machine: 'pc-i440fx-7.2' }).take(), verified);
  });

  it('the decoder reads the verified configuration bytes as the machine name at offset 8', () => {
    const items = decodeStream(cat(HEADER, verified, EOF));
    assert.deepEqual(items, [
      { type: 'header', offset: 0, version: 3 },
      { type: 'configuration', offset: 8, size: 18, config: { machine: 'pc-i440fx-7.2' } },
      { type: 'eof', offset: 26 },
    ]);
  });

  const pageBits = hex('05 | 1E "configuration/target-page-bits" | 00 00 00 01 | 00 00 00 0C');
  const caps = hex('05 | 1A "configuration/capabilities" | 00 00 00 01 | 00 00 00 02 | 0F "x-ignore-shared" | 0A "mapped-ram"');
  const uuid = hex('05 | 12 "configuration/uuid" | 00 00 00 01 | 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF');
  const name = hex('07 | 00 00 00 0A | "pc-q35-9.2"');

  it('the target-page-bits subsection is be32 bits after the subsection header, both ways', () => {
    const bytes = cat(name, pageBits);
    assert.deepEqual(new StreamEncoder().configuration({ machine: 'pc-q35-9.2', targetPageBits: 12 }).take(), bytes);
    const items = decodeStream(cat(HEADER, bytes, EOF));
    assert.deepEqual(items[1], { type: 'configuration', offset: 8, size: bytes.length, config: { machine: 'pc-q35-9.2', targetPageBits: 12 } });
  });

  it('the capabilities subsection is a be32 count then str8 names, both ways', () => {
    const bytes = cat(name, caps);
    const config = { machine: 'pc-q35-9.2', capabilities: ['x-ignore-shared', 'mapped-ram'] };
    assert.deepEqual(new StreamEncoder().configuration(config).take(), bytes);
    assert.deepEqual(decodeStream(cat(HEADER, bytes, EOF))[1], { type: 'configuration', offset: 8, size: bytes.length, config });
  });

  it('the uuid subsection is 16 raw bytes, both ways', () => {
    const bytes = cat(name, uuid);
    const config = { machine: 'pc-q35-9.2', uuid: UUID };
    assert.deepEqual(new StreamEncoder().configuration(config).take(), bytes);
    assert.deepEqual(decodeStream(cat(HEADER, bytes, EOF))[1], { type: 'configuration', offset: 8, size: bytes.length, config });
  });

  it('the encoder writes all three subsections in QEMU order target-page-bits, capabilities, uuid', () => {
    const config = { machine: 'pc-q35-9.2', targetPageBits: 12, capabilities: ['x-ignore-shared', 'mapped-ram'], uuid: UUID };
    const bytes = cat(name, pageBits, caps, uuid);
    assert.deepEqual(new StreamEncoder().configuration(config).take(), bytes);
    assert.deepEqual(decodeStream(cat(HEADER, bytes, EOF))[1], { type: 'configuration', offset: 8, size: bytes.length, config });
  });

  it('the decoder accepts configuration subsections in any order, as QEMU loads them by name', () => {
    const config = { machine: 'pc-q35-9.2', targetPageBits: 12, capabilities: ['x-ignore-shared', 'mapped-ram'], uuid: UUID };
    const bytes = cat(name, uuid, caps, pageBits);
    assert.deepEqual(decodeStream(cat(HEADER, bytes, EOF))[1], { type: 'configuration', offset: 8, size: bytes.length, config });
  });

  it('an empty capability list is not written (the subsection is only sent when needed)', () => {
    assert.deepEqual(new StreamEncoder().configuration({ machine: 'pc-q35-9.2', capabilities: [] }).take(), name);
  });

  it('target page bits other than 12 are rejected on a 4 KiB-page decoder, including values that wrap a 32-bit shift', () => {
    for (const bits of ['00 00 00 0D', '00 00 00 0B', '00 00 00 2C', '00 00 00 4C', '00 00 00 00']) {
      const bytes = cat(HEADER, name, hex(`05 | 1E "configuration/target-page-bits" | 00 00 00 01 | ${bits}`), EOF);
      const err = pushError(bytes);
      assert.ok(err instanceof MalformedError, `${bits}: ${err.message}`);
      assert.equal(err.code, 'ERR_STREAM_MALFORMED');
    }
  });

  it('target page bits 13 are accepted by a decoder configured for 8 KiB pages', () => {
    const bytes = cat(HEADER, name, hex('05 | 1E "configuration/target-page-bits" | 00 00 00 01 | 00 00 00 0D'), EOF);
    assert.equal(decodeStream(bytes, { pageSize: 8192 }).length, 3);
  });

  it('a capability count of 0xffffffff fails at once with ERR_STREAM_BAD_CONFIGURATION', () => {
    const bytes = cat(HEADER, name, hex('05 | 1A "configuration/capabilities" | 00 00 00 01 | FF FF FF FF'));
    const err = malformedAt(bytes, 'ERR_STREAM_BAD_CONFIGURATION', 8 + name.length + 1 + 1 + 0x1a + 4);
    assert.match(err.message, /4294967295 capabilities/);
  });

  it('a machine name length of 0xffffffff fails at once instead of waiting for 4 GiB', () => {
    const err = pushError(cat(HEADER, hex('07 | FF FF FF FF | "pc"')));
    assert.ok(err instanceof MalformedError);
    assert.match(err.code, /^ERR_/);
  });

  it('an unknown configuration subsection is rejected with ERR_VMSTATE_UNKNOWN_SUBSECTION', () => {
    const err = pushError(cat(HEADER, name, hex('05 | 12 "configuration/mode" | 00 00 00 01 | 00'), EOF));
    assert.equal(err.code, 'ERR_VMSTATE_UNKNOWN_SUBSECTION');
  });

  it('configuration "required" rejects a stream without the 0x07 section', () => {
    malformedAt(cat(HEADER, EOF), 'ERR_STREAM_MALFORMED', 8, { configuration: 'required' });
  });

  it('configuration "absent" rejects a stream that has the 0x07 section', () => {
    malformedAt(cat(HEADER, verified, EOF), 'ERR_STREAM_MALFORMED', 8, { configuration: 'absent' });
  });

  it('configuration "auto" accepts streams with and without the 0x07 section', () => {
    assert.deepEqual(decodeStream(cat(HEADER, EOF)), [
      { type: 'header', offset: 0, version: 3 },
      { type: 'eof', offset: 8 },
    ]);
    assert.equal(decodeStream(cat(HEADER, verified, EOF)).length, 3);
  });

  it('a configuration section after the first section is an unknown section type', () => {
    malformedAt(cat(HEADER, hex('08 00 01 00 00'), verified), 'ERR_STREAM_UNKNOWN_SECTION_TYPE', 13);
  });
});

// ---------------------------------------------------------------- §1.5 section headers

/** A codec for a device body of exactly two bytes (what the header tests need). */
const twoByteCodec: SectionCodec = {
  load(r: ByteReader): Record<string, unknown> {
    return { word: r.u16be('body') };
  },
  save(w: ByteWriter, state: Record<string, unknown>): void {
    w.u16be(state.word as number);
  },
};

describe('section headers (§1.4, §1.5)', () => {
  const virtioNet: SectionHeader = { kind: 'full', sectionId: 40, idstr: '0000:00:03.0/virtio-net', instanceId: 0, version: 11 };
  const virtioNetBytes = hex('04 | 00 00 00 28 | 17 "0000:00:03.0/virtio-net" | 00 00 00 00 | 00 00 00 0B');
  const ramStartBytes = hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04');

  it('the encoder writes the verified RAM START header: 01, be32 id 2, str8 "ram", be32 instance 0, be32 version 4', () => {
    assert.deepEqual(new StreamEncoder().sectionHeader(RAM_START_HEADER).take(), ramStartBytes);
  });

  it('the encoder writes the verified virtio-net FULL header: 04, be32 id 40, str8 idstr, be32 instance 0, be32 version 11', () => {
    assert.deepEqual(new StreamEncoder().sectionHeader(virtioNet).take(), virtioNetBytes);
  });

  it('the decoder yields a FULL section item from its header before the body arrives', () => {
    const items = pushAll(cat(HEADER, virtioNetBytes), { resolve: () => twoByteCodec });
    assert.deepEqual(items, [
      { type: 'header', offset: 0, version: 3 },
      { type: 'section', offset: 8, header: virtioNet },
    ]);
  });

  it('the decoder yields a RAM START section item with the full header', () => {
    assert.deepEqual(pushAll(cat(HEADER, ramStartBytes))[1], { type: 'section', offset: 8, header: RAM_START_HEADER });
  });

  it('the encoder writes PART and END as the type byte and be32 id only', () => {
    assert.deepEqual(new StreamEncoder().sectionHeader(RAM_PART_HEADER).take(), hex('02 | 00 00 00 02'));
    assert.deepEqual(new StreamEncoder().sectionHeader(RAM_END_HEADER).take(), hex('03 | 00 00 00 02'));
  });

  it('the decoder gives PART and END the idstr, instance and version of the START with the same id', () => {
    const dev: SectionHeader = { kind: 'start', sectionId: 0x01020304, idstr: 'blk', instanceId: 7, version: 9 };
    const bytes = cat(
      HEADER,
      hex('01 | 01 02 03 04 | 03 "blk" | 00 00 00 07 | 00 00 00 09 | AB CD'),
      hex('02 | 01 02 03 04 | 12 34'),
      hex('03 | 01 02 03 04 | 56 78'),
      EOF,
    );
    const items = decodeStream(bytes, { resolve: () => twoByteCodec });
    assert.deepEqual(items, [
      { type: 'header', offset: 0, version: 3 },
      { type: 'section', offset: 8, header: dev },
      { type: 'device-state', offset: 25, size: 2, header: dev, state: { word: 0xabcd } },
      { type: 'section', offset: 27, header: { ...dev, kind: 'part' } },
      { type: 'device-state', offset: 32, size: 2, header: { ...dev, kind: 'part' }, state: { word: 0x1234 } },
      { type: 'section', offset: 34, header: { ...dev, kind: 'end' } },
      { type: 'device-state', offset: 39, size: 2, header: { ...dev, kind: 'end' }, state: { word: 0x5678 } },
      { type: 'eof', offset: 41 },
    ]);
    assert.deepEqual(encodeItems(items, () => twoByteCodec), bytes);
  });

  it('PART and END with an id no START or FULL introduced are rejected with ERR_STREAM_MALFORMED', () => {
    malformedAt(cat(HEADER, hex('02 | 00 00 00 02')), 'ERR_STREAM_MALFORMED', 9);
    malformedAt(cat(HEADER, ramStartBytes, hex('00 00 00 00 00 00 00 10 | 03 | 00 00 00 03')), 'ERR_STREAM_MALFORMED', 8 + ramStartBytes.length + 8 + 1);
  });

  it('section type bytes other than 00-04 and 08 at top level are rejected with ERR_STREAM_UNKNOWN_SECTION_TYPE', () => {
    for (const t of [0x05, 0x06, 0x07, 0x09, 0x42, 0x7e, 0x7f, 0xff]) {
      const err = malformedAt(cat(HEADER, hex('08 00 01 00 00'), [t]), 'ERR_STREAM_UNKNOWN_SECTION_TYPE', 13);
      assert.match(err.message, new RegExp(`0x${t.toString(16).padStart(2, '0')}`));
    }
  });
});

// ---------------------------------------------------------------- §1.6 footers

describe('section footers (§1.6)', () => {
  const start = hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 00 | 00 00 00 04');
  const ramSetup = hex('00 00 00 00 00 00 10 04 | 06 "pc.ram" | 00 00 00 00 00 00 10 00 | 00 00 00 00 00 00 00 10');
  const afterBody = 8 + start.length + ramSetup.length;

  it('the encoder writes a footer as 7E then the be32 section id', () => {
    assert.deepEqual(new StreamEncoder().footer(2).take(), hex('7E | 00 00 00 02'));
    assert.deepEqual(new StreamEncoder().footer(0x2a).take(), hex('7E | 00 00 00 2A'));
  });

  it('the encoder writes no footer when footers are off (send-section-footer=off)', () => {
    assert.deepEqual(new StreamEncoder({ footers: false }).footer(2).take(), new Uint8Array(0));
  });

  it('the decoder yields a footer item with the section id after the section body', () => {
    const items = decodeStream(cat(HEADER, start, ramSetup, hex('7E 00 00 00 02'), EOF), { footers: 'required' });
    assert.deepEqual(items.at(-2), { type: 'footer', offset: afterBody, sectionId: 2 });
  });

  it('footers "required" rejects a section without footer with ERR_STREAM_MISSING_FOOTER at the byte found instead', () => {
    const err = malformedAt(cat(HEADER, start, ramSetup, EOF), 'ERR_STREAM_MISSING_FOOTER', afterBody, { footers: 'required' });
    assert.match(err.message, /ram/);
  });

  it('a footer carrying another section id is rejected with ERR_STREAM_FOOTER_MISMATCH', () => {
    for (const mode of ['required', 'auto'] as const) {
      const err = malformedAt(cat(HEADER, start, ramSetup, hex('7E 00 00 00 03'), EOF), 'ERR_STREAM_FOOTER_MISMATCH', afterBody + 1, { footers: mode });
      assert.match(err.message, /read 3, expected 2/);
    }
  });

  it('a device section footer with the wrong id is rejected with ERR_STREAM_FOOTER_MISMATCH', () => {
    const bytes = cat(HEADER, hex('04 | 00 00 00 09 | 01 "x" | 00 00 00 00 | 00 00 00 01 | 00 01 | 7E 00 00 00 08'));
    malformedAt(bytes, 'ERR_STREAM_FOOTER_MISMATCH', 8 + 15 + 2 + 1, { resolve: () => twoByteCodec });
  });

  it('footers "auto" decodes the same stream with and without footers to the same items apart from the footers', () => {
    const withF = decodeStream(smallStream({ footers: true }).bytes, { resolve: resolveTiny });
    const withoutF = decodeStream(smallStream({ footers: false }).bytes, { resolve: resolveTiny });
    const strip = (items: StreamItem[]) => items.filter((i) => i.type !== 'footer').map((i) => ({ ...i, offset: 0 }));
    assert.equal(withF.filter((i) => i.type === 'footer').length, 5);
    assert.equal(withoutF.filter((i) => i.type === 'footer').length, 0);
    assert.deepEqual(strip(withF), strip(withoutF));
  });

  it('footers "absent" treats a 7E after a section as an unknown section type', () => {
    malformedAt(cat(HEADER, start, ramSetup, hex('7E 00 00 00 02'), EOF), 'ERR_STREAM_UNKNOWN_SECTION_TYPE', afterBody, { footers: 'absent' });
    assert.equal(decodeStream(cat(HEADER, start, ramSetup, EOF), { footers: 'absent' }).length, 5);
  });

  it('a footer after a COMMAND is an unknown section type, as QEMU writes none there', () => {
    malformedAt(cat(HEADER, hex('08 00 01 00 00 | 7E 00 00 00 00')), 'ERR_STREAM_UNKNOWN_SECTION_TYPE', 13);
  });
});

// ---------------------------------------------------------------- §1.9 COMMAND

describe('QEMU_VM_COMMAND (§1.9)', () => {
  const cases: [name: string, cmd: number, listing: string, data: string][] = [
    ['OPEN_RETURN_PATH', 1, '08 | 00 01 | 00 00', ''],
    ['PING', 2, '08 | 00 02 | 00 04 | 00 00 00 01', '00 00 00 01'],
    ['POSTCOPY_ADVISE (empty)', 3, '08 | 00 03 | 00 00', ''],
    ['POSTCOPY_ADVISE (page sizes)', 3, '08 | 00 03 | 00 10 | 00 00 00 00 00 00 10 00 | 00 00 00 00 00 00 10 00', '00 00 00 00 00 00 10 00 | 00 00 00 00 00 00 10 00'],
    ['POSTCOPY_LISTEN', 4, '08 | 00 04 | 00 00', ''],
    ['POSTCOPY_RUN', 5, '08 | 00 05 | 00 00', ''],
    ['POSTCOPY_RAM_DISCARD', 6, '08 | 00 06 | 00 19 | 00 | 06 "pc.ram" | 00 | 00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 10 00', '00 | 06 "pc.ram" | 00 | 00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 10 00'],
    ['ENABLE_COLO', 8, '08 | 00 08 | 00 00', ''],
    ['POSTCOPY_RESUME', 9, '08 | 00 09 | 00 00', ''],
    ['RECV_BITMAP', 10, '08 | 00 0A | 00 07 | 06 "pc.ram"', '06 "pc.ram"'],
    ['SWITCHOVER_START', 11, '08 | 00 0B | 00 00', ''],
  ];

  for (const [name, cmd, listing, data] of cases) {
    it(`${name} is 08, be16 cmd ${cmd}, be16 length, data in both directions`, () => {
      const bytes = hex(listing);
      assert.deepEqual(new StreamEncoder().command(cmd, hex(data)).take(), bytes);
      const items = decodeStream(cat(HEADER, bytes, EOF));
      assert.deepEqual(items, [
        { type: 'header', offset: 0, version: 3 },
        { type: 'command', offset: 8, cmd, data: hex(data) },
        { type: 'eof', offset: 8 + bytes.length },
      ]);
    });
  }

  it('SWITCHOVER_START is exactly the bytes 08 00 0B 00 00', () => {
    assert.deepEqual(new StreamEncoder().command(11).take(), Uint8Array.from([0x08, 0x00, 0x0b, 0x00, 0x00]));
  });

  it('PACKAGED carries a be32 length and that many bytes of embedded stream, both ways', () => {
    const bytes = hex('08 | 00 07 | 00 04 | 00 00 00 03 | AA BB CC');
    const items = decodeStream(cat(HEADER, bytes, EOF));
    assert.deepEqual(items[1], { type: 'command', offset: 8, cmd: 7, data: hex('00 00 00 03'), packaged: hex('AA BB CC') });
    assert.deepEqual(encodeItems(items), cat(HEADER, bytes, EOF));
  });

  it('command 0 (INVALID) and commands ≥ 12 are rejected with ERR_STREAM_MALFORMED', () => {
    for (const cmd of ['00 00', '00 0C', '00 0D', '00 42', 'FF FF']) {
      const err = malformedAt(cat(HEADER, hex(`08 | ${cmd} | 00 00`)), 'ERR_STREAM_MALFORMED', 9);
      assert.match(err.message, /unknown/);
    }
  });

  it('commands with a fixed length are rejected when the length differs', () => {
    for (const listing of ['00 01 | 00 01', '00 02 | 00 03', '00 02 | 00 05', '00 02 | 00 00', '00 03 | 00 08', '00 04 | 00 01', '00 05 | FF FF', '00 07 | 00 00', '00 08 | 00 02', '00 09 | 00 04', '00 0B | 00 01']) {
      malformedAt(cat(HEADER, hex(`08 | ${listing}`)), 'ERR_STREAM_MALFORMED', 11);
    }
  });

  it('a variable-length command claiming 65535 bytes waits for them without throwing, and is truncated at end()', () => {
    const d = new StreamDecoder();
    assert.deepEqual(d.push(cat(HEADER, hex('08 | 00 06 | FF FF | 00 01 02'))), [{ type: 'header', offset: 0, version: 3 }]);
    const err = thrown(() => d.end());
    assert.ok(err instanceof TruncatedError);
    assert.equal(err.code, 'ERR_STREAM_TRUNCATED');
  });

  it('a PACKAGED length of 0xffffffff is rejected at once, without waiting for the data', () => {
    malformedAt(cat(HEADER, hex('08 | 00 07 | 00 04 | FF FF FF FF')), 'ERR_STREAM_MALFORMED', 13);
  });

  it('a PACKAGED length above QEMU\'s 16 MiB MAX_VM_CMD_PACKAGED_SIZE is rejected, 16 MiB itself waits for data', () => {
    malformedAt(cat(HEADER, hex('08 | 00 07 | 00 04 | 01 00 00 01')), 'ERR_STREAM_MALFORMED', 13);
    assert.equal(pushAll(cat(HEADER, hex('08 | 00 07 | 00 04 | 01 00 00 00'))).length, 1);
  });
});

// ---------------------------------------------------------------- §1.8 EOF and vmdesc

describe('EOF and VMDESCRIPTION (§1.8)', () => {
  const json = new TextEncoder().encode(VMDESC_JSON);
  const vmdesc = cat(hex('06 | 00 00 00 22'), json);

  it('the encoder writes EOF as the single byte 00', () => {
    assert.deepEqual(new StreamEncoder().eof().take(), hex('00'));
  });

  it('the encoder writes the vmdesc as 06, be32 length and the JSON bytes, from a string or from bytes', () => {
    assert.equal(json.length, 0x22);
    assert.deepEqual(new StreamEncoder().vmdesc(VMDESC_JSON).take(), vmdesc);
    assert.deepEqual(new StreamEncoder().vmdesc(json).take(), vmdesc);
  });

  it('the decoder reads EOF then the vmdesc JSON, and the stream is finished', () => {
    const d = new StreamDecoder();
    const items = d.push(cat(HEADER, EOF, vmdesc));
    assert.deepEqual(items, [
      { type: 'header', offset: 0, version: 3 },
      { type: 'eof', offset: 8 },
      { type: 'vmdesc', offset: 9, json },
    ]);
    assert.equal(d.finished, true);
    assert.equal(d.offset, 9 + vmdesc.length);
    d.end();
  });

  it('the verified vmdesc length 00 01 82 E4 is read as 99044 bytes of JSON', () => {
    const body = new Uint8Array(99044).fill(0x20);
    body.set(new TextEncoder().encode('{"page_size": 4096, "devices": []}'));
    const items = decodeStream(cat(HEADER, EOF, hex('06 | 00 01 82 E4'), body));
    const last = items.at(-1);
    assert.equal(last?.type, 'vmdesc');
    assert.equal(last.type === 'vmdesc' ? last.json.length : -1, 99044);
  });

  it('a stream ending right after EOF is complete: the vmdesc is optional (suppress-vmdesc, postcopy)', () => {
    assert.deepEqual(decodeStream(cat(HEADER, EOF)), [
      { type: 'header', offset: 0, version: 3 },
      { type: 'eof', offset: 8 },
    ]);
  });

  it('a vmdesc length of 0xffffffff is rejected by push() at once', () => {
    malformedAt(cat(HEADER, EOF, hex('06 | FF FF FF FF')), 'ERR_STREAM_MALFORMED', 10);
  });

  it('a byte other than 06 after EOF is rejected with ERR_STREAM_MALFORMED', () => {
    for (const b of [0x00, 0x01, 0x04, 0x7e, 0xff]) malformedAt(cat(HEADER, EOF, [b]), 'ERR_STREAM_MALFORMED', 9);
  });

  it('bytes after the vmdesc are rejected with ERR_STREAM_TRAILING_BYTES at the first extra byte', () => {
    malformedAt(cat(HEADER, EOF, vmdesc, hex('00')), 'ERR_STREAM_TRAILING_BYTES', 9 + vmdesc.length);
    const d = new StreamDecoder();
    d.push(cat(HEADER, EOF, vmdesc));
    const err = thrown(() => d.push(hex('7B')));
    assert.ok(err instanceof MalformedError);
    assert.equal(err.code, 'ERR_STREAM_TRAILING_BYTES');
    assert.equal(err.offset, 9 + vmdesc.length);
  });
});

// ---------------------------------------------------------------- device sections

describe('device sections through a SectionCodec', () => {
  const parts = smallStreamParts();
  const dev0Header = parts.find((p) => p[1]?.type === 'section' && p[1].header.sectionId === 5)!;
  const dev0Body = parts.find((p) => p[1]?.type === 'device-state' && p[1].header.sectionId === 5)!;

  it('a FULL tiny-dev section with a subsection decodes to its fields and subsection fields', () => {
    const bytes = cat(HEADER, dev0Header[0], dev0Body[0], hex('7E 00 00 00 05'), EOF);
    const items = decodeStream(bytes, { resolve: resolveTiny, footers: 'required' });
    assert.deepEqual(items, [
      { type: 'header', offset: 0, version: 3 },
      { type: 'section', offset: 8, header: DEV0_HEADER },
      { type: 'device-state', offset: 43, size: 39, header: DEV0_HEADER, state: { flags: 0xdeadbeef, mode: 7, count: 2, regs: [0x11, 0x22], extra: 0x0102030405060708n } },
      { type: 'footer', offset: 82, sectionId: 5 },
      { type: 'eof', offset: 87 },
    ]);
  });

  it('the encoder writes a device-state item through its codec to the same bytes', () => {
    const item = dev0Body[1]!;
    assert.equal(item.type, 'device-state');
    if (item.type !== 'device-state') return;
    const enc = new StreamEncoder();
    enc.sectionHeader(DEV0_HEADER).item({ ...item, offset: 0 }, resolveTiny).footer(5);
    assert.deepEqual(enc.take(), cat(dev0Header[0], dev0Body[0], hex('7E 00 00 00 05')));
  });

  it('a section no resolver can frame fails with ERR_STREAM_UNKNOWN_SECTION naming the idstr', () => {
    const bytes = cat(HEADER, hex('04 | 00 00 00 07 | 05 "timer" | 00 00 00 00 | 00 00 00 02 | 00 00'));
    for (const options of [{}, { resolve: resolveTiny }]) {
      const err = pushError(bytes, options);
      assert.equal(err.code, 'ERR_STREAM_UNKNOWN_SECTION');
      assert.equal(err.details.idstr, 'timer');
      assert.equal(err.details.offset, 8 + 19);
    }
  });

  it('a "ram" section with a non-zero instance is a device section, unknown without a resolver', () => {
    const err = pushError(cat(HEADER, hex('01 | 00 00 00 02 | 03 "ram" | 00 00 00 01 | 00 00 00 04 | 00')));
    assert.equal(err.code, 'ERR_STREAM_UNKNOWN_SECTION');
  });

  it('a section version newer than the description is rejected by the codec with ERR_VMSTATE_VERSION_TOO_NEW', () => {
    const bytes = cat(HEADER, hex('04 | 00 00 00 06 | 08 "tiny-dev" | 00 00 00 00 | 00 00 00 04 | 00 00 00 01 00 00 00'));
    const err = pushError(bytes, { resolve: resolveTiny });
    assert.equal(err.code, 'ERR_VMSTATE_VERSION_TOO_NEW');
  });

  it('a subsection of another device inside a section body is not consumed and then fails as a section type', () => {
    const bytes = cat(HEADER, hex('04 | 00 00 00 06 | 08 "tiny-dev" | 00 00 00 00 | 00 00 00 01 | 00 00 00 01 | 00 | 05 0B "other/extra" 00 00 00 01'));
    malformedAt(bytes, 'ERR_STREAM_UNKNOWN_SECTION_TYPE', 8 + 22 + 5, { resolve: resolveTiny });
  });
});

// ---------------------------------------------------------------- whole streams

describe('whole synthetic streams', () => {
  for (const [label, opts, decodeOpts] of [
    ['with configuration and footers', { footers: true, configuration: true }, { footers: 'required', configuration: 'required' }],
    ['without configuration or footers (pc-i440fx-2.3 style)', { footers: false, configuration: false }, { footers: 'absent', configuration: 'absent' }],
  ] as const) {
    it(`the small stream ${label} decodes to the hand-listed items at the hand-computed offsets`, () => {
      const { bytes, items } = smallStream(opts);
      assert.deepEqual(decodeStream(bytes, { resolve: resolveTiny, ...decodeOpts }), items);
    });

    it(`encodeItems re-encodes the small stream ${label} byte-identically`, () => {
      const { bytes, items } = smallStream(opts);
      assert.deepEqual(encodeItems(decodeStream(bytes, { resolve: resolveTiny }), resolveTiny), bytes);
      assert.deepEqual(encodeItems(items, resolveTiny), bytes);
    });
  }

  it('the encoder methods write the small stream byte-identically, setting CONTINUE by itself', () => {
    const { bytes, items } = smallStream();
    const states = items.filter((i) => i.type === 'device-state');
    const enc = new StreamEncoder();
    enc.header().configuration({ machine: 'pc-i440fx-7.2', uuid: UUID });
    enc.command(1).command(2, hex('00 00 00 01'));
    enc.sectionHeader(RAM_START_HEADER).ramBlocks([{ idstr: 'pc.ram', usedLength: 0x2000 }, { idstr: 'pc.rom', usedLength: 0x1000 }]).ramEos().footer(2);
    enc.sectionHeader(RAM_PART_HEADER).ramPage('pc.ram', 0, page(1)).ramZero('pc.ram', 0x1000).ramZero('pc.rom', 0).ramEos().footer(2);
    enc.command(11);
    enc.sectionHeader(RAM_END_HEADER).ramPage('pc.rom', 0, page(2)).ramEos().footer(2);
    enc.sectionHeader(DEV0_HEADER).item(states[0]!, resolveTiny).footer(5);
    enc.sectionHeader(DEV1_HEADER).item(states[1]!, resolveTiny).footer(6);
    enc.eof().vmdesc(VMDESC_JSON);
    assert.deepEqual(enc.take(), bytes);
  });

  it('take() hands over the bytes written since the previous take, so a sender can flush as it goes', () => {
    const enc = new StreamEncoder();
    assert.deepEqual(enc.header().take(), HEADER);
    assert.equal(enc.pendingBytes, 0);
    enc.eof();
    assert.equal(enc.pendingBytes, 1);
    assert.deepEqual(enc.take(), EOF);
  });
});

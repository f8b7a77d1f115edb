/**
 * StreamDecoder: an incremental decoder of QEMU's migration stream
 * (research/qemu-wire-format.md §1).
 *
 *   "QEVM" · be32 3 · [0x07 configuration]
 *   { 0x01 START | 0x04 FULL : be32 id · str8 idstr · be32 instance · be32 version · body · [0x7E be32 id]
 *   | 0x02 PART  | 0x03 END  : be32 id · body · [0x7E be32 id]
 *   | 0x08 COMMAND : be16 cmd · be16 len · data }*
 *   0x00 EOF · [0x06 be32 len · vmdesc JSON]
 *
 * Bytes are pushed as they arrive (`push`); each call returns the items that
 * became complete. A truncated item is not an error until `end()`: the decoder
 * keeps the unconsumed bytes and retries when more arrive. Bytes that cannot
 * be valid throw a MalformedError at once, with the absolute offset and what
 * was expected. Only the item that straddles a chunk boundary is copied
 * (leftover + the head of the next chunk); the rest of each chunk is read in
 * place. RAM records are items of their own, so a retry re-reads at most one
 * page, never a whole section.
 *
 * Device sections carry no length: framing them needs their description
 * (`resolve`). RAM ("ram", version 4) is built in.
 */

import { ByteReader, MalformedError, TruncatedError, VmigError, decodeText } from '../core/index.js';
import type { ConfigurationState } from './configuration.js';
import { configurationVmsd } from './configuration.js';
import { loadState } from '../vmstate/index.js';
import {
  MIG_CMD_LENGTHS,
  MIG_CMD_MAX,
  MIG_CMD_PACKAGED,
  MIG_CMD_POSTCOPY_ADVISE,
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
  RAM_SECTION_IDSTR,
  RAM_SECTION_VERSION,
  TARGET_PAGE_SIZE,
} from './constants.js';
import type { SectionCodec, SectionHeader, SectionKind, SectionResolver, StreamItem } from './items.js';
import { STREAM_MAX_COMMAND_BYTES, STREAM_MAX_PACKAGED_BYTES, STREAM_MAX_VMDESC_BYTES } from './limits.js';
import type { RamDecodeState } from './ram-records.js';
import { readRamRecord } from './ram-records.js';

export type Presence = 'required' | 'absent' | 'auto';

export interface StreamDecoderOptions {
  /** Descriptions of the non-RAM sections; a section nobody can frame is an error. */
  resolve?: SectionResolver;
  /** Section footers (QEMU `send-section-footer`): default 'auto' (accepted when present). */
  footers?: Presence;
  /** Configuration section (QEMU `send-configuration`): default 'auto'. */
  configuration?: Presence;
  /** Target page size; 4096 on x86. */
  pageSize?: number;
  /** postcopy-ram was on: MEM_SIZE entries may carry a page size (vmig never sends it). */
  postcopyPageSizes?: boolean;
}

const enum State {
  Header,
  AfterHeader,
  Top,
  RamBody,
  DeviceBody,
  Footer,
  AfterEof,
  Done,
}

export class StreamDecoder {
  readonly #opts: Required<Pick<StreamDecoderOptions, 'footers' | 'configuration' | 'pageSize'>> & StreamDecoderOptions;
  #buf: Uint8Array = new Uint8Array(0);
  /** Absolute offset of #buf[0]. */
  #base = 0;
  /** Index in #buf of the first unconsumed byte. */
  #pos = 0;
  /** Don't retry before #buf holds this many bytes (from #pos). */
  #wantBytes = 0;
  #state = State.Header;
  #section: SectionHeader | undefined;
  /** The codec of the device section being read (resolved once per section). */
  #codec: SectionCodec | undefined;
  readonly #sections = new Map<number, SectionHeader>();
  readonly #ram: RamDecodeState;
  #configuration: ConfigurationState | undefined;
  /** Why the last push stopped short: what the pending item still lacks. */
  #pending: TruncatedError | undefined;

  constructor(options: StreamDecoderOptions = {}) {
    this.#opts = { footers: 'auto', configuration: 'auto', pageSize: TARGET_PAGE_SIZE, ...options };
    this.#ram = { pageSize: this.#opts.pageSize, blocks: new Map(), lastBlock: undefined, ignoreShared: false, postcopyPageSizes: options.postcopyPageSizes ?? false };
  }

  /** Absolute offset of the first byte not yet decoded. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** True once EOF (and the vmdesc, if any) has been decoded. */
  get finished(): boolean {
    return this.#state === State.AfterEof || this.#state === State.Done;
  }

  get configuration(): ConfigurationState | undefined {
    return this.#configuration;
  }

  /**
   * Feed the next bytes; returns the items they completed. The decoder keeps
   * no reference to `chunk` afterwards; the items' byte views (RAM pages)
   * point into it, so consume them before reusing the chunk's memory.
   * @throws MalformedError (or another VmigError) when the stream is invalid
   */
  push(chunk: Uint8Array): StreamItem[] {
    if (this.#state === State.Done && chunk.length > 0) {
      throw new MalformedError('ERR_STREAM_TRAILING_BYTES', `Unexpected bytes after the end of the stream at offset ${this.offset}`, { offset: this.offset, expected: 'end of stream' });
    }
    const out: StreamItem[] = [];
    if (chunk.length === 0) return out;
    const left = this.#buf.length - this.#pos;
    if (left === 0) {
      this.#base += this.#buf.length;
      this.#buf = chunk;
      this.#pos = 0;
    } else if (left + chunk.length < this.#wantBytes) {
      this.#mergeAll(chunk, 0);
      return out;
    } else {
      // Only the item that straddles the chunk boundary is copied: merge the
      // leftover with the head of the chunk, finish that item, then read the
      // rest of the chunk in place (its pages stay views, not copies).
      const take = Math.min(chunk.length, Math.max(this.#wantBytes - left, 0) + this.#recordSlack());
      this.#mergeAll(chunk.subarray(0, take), 0);
      const chunkBase = this.#base + left;
      this.#run(out, left);
      if (this.#pos >= left) {
        this.#buf = chunk;
        this.#pos -= left;
        this.#base = chunkBase;
      } else if (this.#state !== State.Done) {
        // The straddling item is longer than the head taken (a device
        // section): fall back to merging the whole chunk.
        this.#mergeAll(chunk, take);
        if (this.#buf.length - this.#pos < this.#wantBytes) return out;
      }
    }
    if (this.#state !== State.Done) this.#run(out, Infinity);
    if (this.#state === State.Done && this.#pos < this.#buf.length) {
      throw new MalformedError('ERR_STREAM_TRAILING_BYTES', `Unexpected bytes after the vmdesc at offset ${this.offset}`, { offset: this.offset, expected: 'end of stream' });
    }
    this.#compact();
    this.#release(chunk);
    return out;
  }

  /**
   * Keep no reference to the caller's chunk past push(): a receiver may read
   * into one buffer over and over. The unconsumed tail (one item at most,
   * usually part of a page) is copied.
   */
  #release(chunk: Uint8Array): void {
    if (this.#pos < this.#buf.length && this.#buf.buffer === chunk.buffer) {
      this.#buf = this.#buf.slice(this.#pos);
      this.#base += this.#pos;
      this.#pos = 0;
    }
  }

  /** The most a RAM record can take beyond what the decoder knew it needed: header, idstr, one page. */
  #recordSlack(): number {
    return 8 + 256 + this.#opts.pageSize + 8;
  }

  /** Decode items from #pos until the buffer runs out, the stream ends, or #pos reaches `stopAt`. */
  #run(out: StreamItem[], stopAt: number): void {
    this.#wantBytes = 0;
    this.#pending = undefined;
    const r = new ByteReader(this.#buf, this.#base, this.#pos, this.#buf.length, true);
    while (!r.atEnd && r.position < stopAt) {
      const start = r.position;
      try {
        const item = this.#step(r);
        if (item) out.push(item);
        this.#pos = r.position;
        if (this.#state === State.Done) break;
      } catch (err) {
        if (err instanceof TruncatedError) {
          r.rewind(start);
          this.#pos = start;
          this.#wantBytes = this.#buf.length - start + err.details.needed;
          this.#pending = err;
          break;
        }
        throw err;
      }
    }
  }

  /**
   * Declare the input complete.
   * @throws TruncatedError (ERR_STREAM_TRUNCATED) when the stream stopped before EOF or mid-item
   */
  end(): void {
    const left = this.#buf.length - this.#pos;
    if (this.finished && left === 0) {
      this.#state = State.Done;
      return;
    }
    if (left > 0 && this.#pending) {
      // The last push stopped on an incomplete item: that is what is missing.
      const err = this.#pending;
      throw new TruncatedError('ERR_STREAM_TRUNCATED', `Stream truncated: ${err.message}`, err.details, err);
    }
    const expected = this.#expectedNext();
    throw new TruncatedError('ERR_STREAM_TRUNCATED', `Stream truncated at byte ${this.offset}: expected ${expected}`, { offset: this.offset, expected, needed: 1 });
  }

  #expectedNext(): string {
    switch (this.#state) {
      case State.Header:
        return 'the "QEVM" header';
      case State.AfterHeader:
      case State.Top:
        return 'a section type byte (or EOF 0x00)';
      case State.RamBody:
        return 'a RAM record (the section ends with EOS)';
      case State.DeviceBody:
        return `the body of section ${this.#section?.idstr ?? '?'}`;
      case State.Footer:
        return `the section footer 0x7E for section ${this.#section?.sectionId ?? '?'}`;
      default:
        return 'end of stream';
    }
  }

  /** Make #buf the unconsumed bytes followed by `chunk[from..]`. */
  #mergeAll(chunk: Uint8Array, from: number): void {
    const left = this.#buf.length - this.#pos;
    const tail = chunk.subarray(from);
    const merged = new Uint8Array(left + tail.length);
    merged.set(this.#buf.subarray(this.#pos));
    merged.set(tail, left);
    this.#base += this.#pos;
    this.#buf = merged;
    this.#pos = 0;
  }

  #compact(): void {
    if (this.#pos >= this.#buf.length) {
      this.#base += this.#buf.length;
      this.#buf = new Uint8Array(0);
      this.#pos = 0;
    }
  }

  /** Decode one item (or a framing step that yields none) at the reader's position. */
  #step(r: ByteReader): StreamItem | undefined {
    switch (this.#state) {
      case State.Header:
        return this.#readHeader(r);
      case State.AfterHeader:
        if (r.peekU8() === QEMU_VM_CONFIGURATION) {
          if (this.#opts.configuration === 'absent') throw malformed(r.offset, 'a section type byte', 'Unexpected configuration section: this side does not expect one (send-configuration=off)');
          const item = this.#readConfiguration(r);
          this.#state = State.Top;
          return item;
        }
        if (this.#opts.configuration === 'required') throw malformed(r.offset, 'the configuration section (0x07)', 'Configuration section missing: the source has send-configuration=off or an old machine type');
        this.#state = State.Top;
        return undefined;
      case State.Top:
        return this.#readTop(r);
      case State.RamBody: {
        const item = readRamRecord(r, this.#ram);
        if (item.type === 'ram-eos') this.#state = State.Footer;
        return item;
      }
      case State.DeviceBody:
        return this.#readDeviceBody(r);
      case State.Footer:
        return this.#readFooter(r);
      case State.AfterEof:
        return this.#readAfterEof(r);
      case State.Done:
        return undefined;
    }
  }

  #readHeader(r: ByteReader): StreamItem {
    const offset = r.offset;
    const magic = r.u32be('be32 magic "QEVM"');
    if (magic !== QEMU_VM_FILE_MAGIC) throw new MalformedError('ERR_STREAM_BAD_MAGIC', `Not a QEMU migration stream: magic 0x${magic.toString(16).padStart(8, '0')} at offset ${offset}, expected 0x5145564d ("QEVM")`, { offset, expected: 'magic "QEVM"' });
    const version = r.u32be('be32 stream version');
    if (version === QEMU_VM_FILE_VERSION_COMPAT) throw new MalformedError('ERR_STREAM_BAD_VERSION', 'SaveVM v2 format is obsolete and unsupported', { offset: offset + 4, expected: 'version 3' });
    if (version !== QEMU_VM_FILE_VERSION) throw new MalformedError('ERR_STREAM_BAD_VERSION', `Unsupported migration stream version ${version}`, { offset: offset + 4, expected: 'version 3' });
    this.#state = State.AfterHeader;
    return { type: 'header', offset, version };
  }

  #readConfiguration(r: ByteReader): StreamItem {
    const offset = r.offset;
    r.skip(1);
    const state: Record<string, unknown> = {};
    loadState(r, configurationVmsd, state, 0);
    const config = state as unknown as ConfigurationState;
    this.#configuration = config;
    this.#ram.ignoreShared = config.capabilities?.includes('x-ignore-shared') ?? false;
    // Compare the bit counts as QEMU does: `1 << bits` wraps modulo 32 in JS (1 << 44 === 4096).
    const localBits = Math.log2(this.#opts.pageSize);
    if (config.targetPageBits !== undefined && config.targetPageBits !== localBits) {
      throw malformed(offset, `target page bits ${localBits}`, `Stream uses target page bits ${config.targetPageBits}; this side uses ${localBits} (${this.#opts.pageSize}-byte pages)`);
    }
    return { type: 'configuration', offset, size: r.offset - offset, config };
  }

  #readTop(r: ByteReader): StreamItem {
    const offset = r.offset;
    const type = r.u8('section type byte');
    switch (type) {
      case QEMU_VM_SECTION_START:
      case QEMU_VM_SECTION_FULL: {
        const sectionId = r.u32be('be32 section id');
        const idstr = r.str8('section idstr');
        const instanceId = r.u32be('be32 instance id');
        const version = r.u32be('be32 version id');
        const header: SectionHeader = { kind: type === QEMU_VM_SECTION_START ? 'start' : 'full', sectionId, idstr, instanceId, version };
        this.#beginBody(header, offset);
        this.#sections.set(sectionId, header);
        return { type: 'section', offset, header };
      }
      case QEMU_VM_SECTION_PART:
      case QEMU_VM_SECTION_END: {
        const sectionId = r.u32be('be32 section id');
        const known = this.#sections.get(sectionId);
        if (!known) throw malformed(offset + 1, 'the id of a section started earlier', `Unknown section id ${sectionId} in ${type === QEMU_VM_SECTION_PART ? 'PART' : 'END'}`);
        const kind: SectionKind = type === QEMU_VM_SECTION_PART ? 'part' : 'end';
        const header: SectionHeader = { ...known, kind };
        this.#beginBody(header, offset);
        return { type: 'section', offset, header };
      }
      case QEMU_VM_COMMAND:
        return this.#readCommand(r, offset);
      case QEMU_VM_EOF:
        this.#state = State.AfterEof;
        return { type: 'eof', offset };
      default:
        throw new MalformedError('ERR_STREAM_UNKNOWN_SECTION_TYPE', `Unknown savevm section type 0x${type.toString(16).padStart(2, '0')} at offset ${offset}`, { offset, expected: 'a section type byte (0x00-0x04, 0x08)' });
    }
  }

  #beginBody(header: SectionHeader, offset: number): void {
    this.#section = header;
    this.#codec = this.#opts.resolve?.(header);
    if (header.idstr === RAM_SECTION_IDSTR && header.instanceId === 0 && !this.#codec) {
      if (header.version !== RAM_SECTION_VERSION) throw malformed(offset, 'ram section version 4', `RAM section version ${header.version} is not supported (QEMU uses 4)`);
      this.#state = State.RamBody;
      return;
    }
    this.#state = State.DeviceBody;
  }

  #readDeviceBody(r: ByteReader): StreamItem {
    const header = this.#section!;
    const offset = r.offset;
    const codec = this.#codec;
    if (!codec) {
      throw new VmigError('ERR_STREAM_UNKNOWN_SECTION', `Cannot frame section ${header.idstr} (instance ${header.instanceId}, version ${header.version}) at offset ${offset}: no description of it is known and device sections carry no length; decode with the stream's vmdesc or configure the same devices on both sides`, {
        details: { offset, expected: `the body of ${header.idstr}`, idstr: header.idstr },
      });
    }
    const state = codec.load(r, header);
    this.#state = State.Footer;
    return { type: 'device-state', offset, size: r.offset - offset, header, state };
  }

  #readFooter(r: ByteReader): StreamItem | undefined {
    const header = this.#section!;
    const mode = this.#opts.footers;
    const next = r.peekU8();
    if (mode === 'absent' || (mode === 'auto' && next !== undefined && next !== QEMU_VM_SECTION_FOOTER)) {
      this.#state = State.Top;
      return undefined;
    }
    const offset = r.offset;
    const marker = r.u8('section footer 0x7E');
    if (marker !== QEMU_VM_SECTION_FOOTER) throw new MalformedError('ERR_STREAM_MISSING_FOOTER', `Missing section footer for ${header.idstr} at offset ${offset}: found 0x${marker.toString(16).padStart(2, '0')}`, { offset, expected: 'section footer 0x7E' });
    const id = r.u32be('be32 footer section id');
    if (id !== header.sectionId) throw new MalformedError('ERR_STREAM_FOOTER_MISMATCH', `Mismatched section id in footer for ${header.idstr}: read ${id}, expected ${header.sectionId}`, { offset: offset + 1, expected: `section id ${header.sectionId}` });
    this.#state = State.Top;
    return { type: 'footer', offset, sectionId: id };
  }

  #readCommand(r: ByteReader, offset: number): StreamItem {
    const cmd = r.u16be('be16 command');
    const len = r.u16be('be16 command length');
    if (cmd === 0 || cmd >= MIG_CMD_MAX) throw malformed(offset + 1, `a command 1..${MIG_CMD_MAX - 1}`, `MIG_CMD 0x${cmd.toString(16)} unknown`);
    const fixed = MIG_CMD_LENGTHS[cmd];
    if ((fixed !== undefined && fixed >= 0 && len !== fixed) || (cmd === MIG_CMD_POSTCOPY_ADVISE && len !== 0 && len !== 16)) {
      throw malformed(offset + 3, `length ${cmd === MIG_CMD_POSTCOPY_ADVISE ? '0 or 16' : fixed}`, `MIG_CMD ${cmd} has length ${len}`);
    }
    if (len > STREAM_MAX_COMMAND_BYTES) throw malformed(offset + 3, 'a command length ≤ 65535', 'Command too long');
    const data = r.bytes(len, `${len} bytes of command data`).slice();
    if (cmd === MIG_CMD_PACKAGED) {
      const n = new DataView(data.buffer).getUint32(0, false);
      if (n > STREAM_MAX_PACKAGED_BYTES) throw malformed(offset + 5, 'a packaged length ≤ 16 MiB', `Unreasonably large packaged state: ${n} bytes`);
      const packaged = r.bytes(n, 'packaged stream').slice();
      return { type: 'command', offset, cmd, data, packaged };
    }
    return { type: 'command', offset, cmd, data };
  }

  #readAfterEof(r: ByteReader): StreamItem {
    const offset = r.offset;
    const type = r.u8('vmdesc section type 0x06');
    if (type !== QEMU_VM_VMDESCRIPTION) throw malformed(offset, 'the vmdesc section 0x06 or end of stream', `Unexpected byte 0x${type.toString(16)} after EOF`);
    const len = r.u32be('be32 vmdesc length');
    if (len > STREAM_MAX_VMDESC_BYTES) throw malformed(offset + 1, 'a vmdesc length ≤ 64 MiB', `vmdesc of ${len} bytes is too large`);
    const json = r.bytes(len, `${len} bytes of vmdesc JSON`);
    this.#state = State.Done;
    return { type: 'vmdesc', offset, json };
  }
}

function malformed(offset: number, expected: string, message: string): MalformedError {
  return new MalformedError('ERR_STREAM_MALFORMED', `${message} (offset ${offset})`, { offset, expected });
}

/**
 * Decode a complete stream held in memory.
 * @throws TruncatedError (ERR_STREAM_TRUNCATED), MalformedError
 */
export function decodeStream(bytes: Uint8Array, options: StreamDecoderOptions = {}): StreamItem[] {
  const d = new StreamDecoder(options);
  const items = d.push(bytes);
  d.end();
  return items;
}

export { decodeText };

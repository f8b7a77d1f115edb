/**
 * StreamEncoder: writes QEMU's migration stream (the framing the decoder
 * reads; research §1). Each method appends one framing element; `take()`
 * hands over the bytes written so far, so a sender can flush as it goes.
 *
 * RAM records follow QEMU's rule for CONTINUE: a page of the same block as
 * the previous record omits the block name. `encodeItems` re-encodes a decoded
 * item list exactly (flags as they were).
 */

import { ByteWriter, encodeText } from '../core/index.js';
import type { CopyBytes } from '../core/index.js';
import { saveState } from '../vmstate/index.js';
import type { ConfigurationState } from './configuration.js';
import { configurationVmsd } from './configuration.js';
import {
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
} from './constants.js';
import type { RamBlockInfo, SectionHeader, SectionResolver, StreamItem } from './items.js';
import { writeRamRecord } from './ram-records.js';
import type { RamEncodeState } from './ram-records.js';

export interface StreamEncoderOptions {
  /** QEMU `send-section-footer` (default true). */
  footers?: boolean;
  /** x-ignore-shared: MEM_SIZE entries carry the block address (also turned on by a configuration listing it). */
  ignoreShared?: boolean;
  /**
   * How a page's bytes are copied into the stream (default TypedArray.set).
   * A migration source passes the host's native copy: its pages come out of
   * guest RAM, a SharedArrayBuffer, which V8 copies from with relaxed atomic
   * accesses (host/copy-bytes.ts).
   */
  copyPage?: CopyBytes;
}

const SECTION_TYPE = { start: QEMU_VM_SECTION_START, part: QEMU_VM_SECTION_PART, end: QEMU_VM_SECTION_END, full: QEMU_VM_SECTION_FULL } as const;

export class StreamEncoder {
  readonly w: ByteWriter;
  readonly #footers: boolean;
  readonly #ram: RamEncodeState;
  #lastBlock: string | undefined;

  constructor(options: StreamEncoderOptions = {}, initialCapacity = 1 << 16) {
    this.w = new ByteWriter(initialCapacity);
    this.#footers = options.footers ?? true;
    this.#ram = { ignoreShared: options.ignoreShared ?? false, postcopyPageSizes: false, ...(options.copyPage ? { copyPage: options.copyPage } : {}) };
  }

  /** The bytes written since the last take. */
  take(): Uint8Array {
    return this.w.finish();
  }

  /** The bytes written since the last take, without a copy; encoding continues into `next` (ByteWriter.swap). */
  takeSwap(next: Uint8Array): Uint8Array {
    return this.w.swap(next);
  }

  get pendingBytes(): number {
    return this.w.length;
  }

  header(): this {
    this.w.u32be(QEMU_VM_FILE_MAGIC).u32be(QEMU_VM_FILE_VERSION);
    return this;
  }

  configuration(config: ConfigurationState): this {
    this.w.u8(QEMU_VM_CONFIGURATION);
    saveState(this.w, configurationVmsd, { ...config } as Record<string, unknown>);
    // A stream announcing x-ignore-shared has block addresses in MEM_SIZE; the
    // decoder infers the same from this section, so re-encoding stays exact.
    if (config.capabilities?.includes('x-ignore-shared')) this.#ram.ignoreShared = true;
    return this;
  }

  /** START/FULL write the full header; PART/END only the id. */
  sectionHeader(h: SectionHeader): this {
    this.w.u8(SECTION_TYPE[h.kind]).u32be(h.sectionId);
    if (h.kind === 'start' || h.kind === 'full') this.w.str8(h.idstr).u32be(h.instanceId).u32be(h.version);
    return this;
  }

  footer(sectionId: number): this {
    if (this.#footers) this.w.u8(QEMU_VM_SECTION_FOOTER).u32be(sectionId);
    return this;
  }

  ramBlocks(blocks: RamBlockInfo[]): this {
    const totalBytes = blocks.reduce((n, b) => n + b.usedLength, 0);
    writeRamRecord(this.w, { type: 'ram-blocks', offset: 0, totalBytes, blocks }, this.#ram);
    return this;
  }

  /** A raw page; CONTINUE is set when the block is the previous record's. */
  ramPage(block: string, addr: number, data: Uint8Array): this {
    const flags = RAM_SAVE_FLAG_PAGE | this.#continue(block);
    writeRamRecord(this.w, { type: 'ram-page', offset: 0, flags, block, addr, data }, this.#ram);
    return this;
  }

  ramZero(block: string, addr: number, fill = 0): this {
    const flags = RAM_SAVE_FLAG_ZERO | this.#continue(block);
    writeRamRecord(this.w, { type: 'ram-zero', offset: 0, flags, block, addr, fill }, this.#ram);
    return this;
  }

  ramEos(): this {
    writeRamRecord(this.w, { type: 'ram-eos', offset: 0 }, this.#ram);
    return this;
  }

  command(cmd: number, data: Uint8Array = new Uint8Array(0)): this {
    this.w.u8(QEMU_VM_COMMAND).u16be(cmd).u16be(data.length).bytes(data);
    return this;
  }

  eof(): this {
    this.w.u8(QEMU_VM_EOF);
    return this;
  }

  vmdesc(json: string | Uint8Array): this {
    const bytes = typeof json === 'string' ? encodeText(json) : json;
    this.w.u8(QEMU_VM_VMDESCRIPTION).u32be(bytes.length).bytes(bytes);
    return this;
  }

  /** Write one decoded item back. Device state goes through its codec. */
  item(item: StreamItem, resolve?: SectionResolver, currentSection?: SectionHeader): this {
    switch (item.type) {
      case 'header':
        return this.header();
      case 'configuration':
        return this.configuration(item.config);
      case 'section':
        return this.sectionHeader(item.header);
      case 'device-state': {
        const codec = resolve?.(item.header ?? currentSection);
        if (!codec) throw new RangeError(`no codec to re-encode section ${item.header.idstr}`);
        codec.save(this.w, item.state, item.header);
        return this;
      }
      case 'footer':
        this.w.u8(QEMU_VM_SECTION_FOOTER).u32be(item.sectionId);
        return this;
      case 'command':
        this.command(item.cmd, item.data);
        if (item.packaged) this.w.bytes(item.packaged);
        return this;
      case 'eof':
        return this.eof();
      case 'vmdesc':
        return this.vmdesc(item.json);
      default:
        if (item.type === 'ram-page' || item.type === 'ram-zero' || item.type === 'ram-xbzrle' || item.type === 'ram-compressed') {
          this.#lastBlock = item.block;
        }
        writeRamRecord(this.w, item, this.#ram);
        return this;
    }
  }

  #continue(block: string): number {
    if (this.#lastBlock === block) return RAM_SAVE_FLAG_CONTINUE;
    this.#lastBlock = block;
    return 0;
  }
}

/** Re-encode a decoded item list into one byte array. */
export function encodeItems(items: StreamItem[], resolve?: SectionResolver, options: StreamEncoderOptions = {}): Uint8Array {
  // Size the output once: growing a 70 MB buffer by doubling costs more than encoding it.
  let estimate = 1 << 16;
  for (const it of items) {
    estimate += 300; // headers, idstrs, record words
    if (it.type === 'ram-page' || it.type === 'ram-xbzrle' || it.type === 'ram-compressed' || it.type === 'vmdesc') estimate += (it.type === 'vmdesc' ? it.json : it.data).length;
    else if (it.type === 'device-state') estimate += it.size;
  }
  const enc = new StreamEncoder({ footers: true, ...options }, estimate);
  for (const it of items) enc.item(it, resolve);
  return enc.take();
}

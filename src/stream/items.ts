/**
 * What the stream decoder yields and the encoder takes: one item per framing
 * element, in stream order. Offsets are absolute byte offsets of the item's
 * first byte. Page payloads are views into the decoder's input (no copy).
 */

import type { ByteReader, ByteWriter } from '../core/index.js';
import type { VmState } from '../vmstate/index.js';
import type { ConfigurationState } from './configuration.js';

export type SectionKind = 'start' | 'part' | 'end' | 'full';

export interface SectionHeader {
  kind: SectionKind;
  sectionId: number;
  /** Known for START/FULL from the header; for PART/END from the START with the same id. */
  idstr: string;
  instanceId: number;
  version: number;
}

export interface RamBlockInfo {
  idstr: string;
  usedLength: number;
  /** Sent only with postcopy when the block's page size differs from the host's. */
  pageSize?: number;
  /** Sent only with x-ignore-shared. */
  addr?: bigint;
}

export type StreamItem =
  | { type: 'header'; offset: number; version: number }
  | { type: 'configuration'; offset: number; size: number; config: ConfigurationState }
  | { type: 'section'; offset: number; header: SectionHeader }
  | { type: 'device-state'; offset: number; size: number; header: SectionHeader; state: VmState }
  | { type: 'ram-blocks'; offset: number; totalBytes: number; blocks: RamBlockInfo[] }
  | { type: 'ram-page'; offset: number; flags: number; block: string; addr: number; data: Uint8Array }
  | { type: 'ram-zero'; offset: number; flags: number; block: string; addr: number; fill: number }
  | { type: 'ram-xbzrle'; offset: number; flags: number; block: string; addr: number; data: Uint8Array }
  | { type: 'ram-compressed'; offset: number; flags: number; block: string; addr: number; data: Uint8Array }
  | { type: 'ram-multifd-flush'; offset: number }
  | { type: 'ram-eos'; offset: number }
  | { type: 'footer'; offset: number; sectionId: number }
  | { type: 'command'; offset: number; cmd: number; data: Uint8Array; packaged?: Uint8Array }
  | { type: 'eof'; offset: number }
  | { type: 'vmdesc'; offset: number; json: Uint8Array };

/**
 * How the bytes of a non-RAM section are read and written. Device sections
 * carry no length, so framing a stream needs the description of every device
 * in it: vmig's own, or one built from the stream's vmdesc.
 */
export interface SectionCodec {
  load(r: ByteReader, header: SectionHeader): VmState;
  save(w: ByteWriter, state: VmState, header: SectionHeader): void;
}

export type SectionResolver = (header: SectionHeader) => SectionCodec | undefined;

/**
 * RAM section payload (ram.c `ram_save_setup`, `save_page_header`,
 * `ram_load_precopy`; research §1.10). Each record:
 *
 *   be64 (page offset | flags)
 *   [str8 block idstr]             unless RAM_SAVE_FLAG_CONTINUE
 *   ZERO:  u8 fill                 PAGE: page_size raw bytes
 *   XBZRLE: u8 0x01 · be16 len · len bytes
 *   COMPRESS_PAGE (≤ 9.0): be32 len · len bytes of zlib
 *   MEM_SIZE: the offset bits hold the total; then per block
 *             str8 idstr · be64 used_length [· be64 page size] [· be64 addr]
 *             until the total is consumed
 *   EOS ends the section's RAM data
 *
 * The header word is read as two u32 halves: one bigint per page would cost
 * more than the page itself.
 */

import { ByteReader, ByteWriter, MalformedError } from '../core/index.js';
import type { CopyBytes } from '../core/index.js';
import {
  ENCODING_FLAG_XBZRLE,
  RAM_SAVE_FLAG_COMPRESS_PAGE,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_HOOK,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_XBZRLE,
  RAM_SAVE_FLAG_ZERO,
} from './constants.js';
import type { RamBlockInfo, StreamItem } from './items.js';
import { STREAM_MAX_RAM_BLOCKS, STREAM_MAX_RAM_BLOCK_BYTES } from './limits.js';

export interface RamDecodeState {
  pageSize: number;
  /** Blocks announced by MEM_SIZE, by idstr. */
  blocks: Map<string, RamBlockInfo>;
  /** The block of the previous record (for CONTINUE); persists across sections. */
  lastBlock: RamBlockInfo | undefined;
  /** x-ignore-shared: each MEM_SIZE entry carries its guest address. */
  ignoreShared: boolean;
  /** postcopy-ram with a block page size ≠ host page size: an extra be64 per entry. */
  postcopyPageSizes: boolean;
}

const TWO_32 = 2 ** 32;

/**
 * Read one RAM record and return it as a stream item; the caller stops at
 * `ram-eos`.
 * @throws TruncatedError when the record is incomplete, MalformedError when it is invalid
 */
export function readRamRecord(r: ByteReader, st: RamDecodeState): StreamItem {
  const offset = r.offset;
  const [hi, lo] = r.u64beHalves('be64 RAM record header (offset | flags)');
  const mask = st.pageSize - 1;
  const flags = lo & mask;
  const bare = flags & ~RAM_SAVE_FLAG_CONTINUE;
  const addr = hi * TWO_32 + (lo - flags);

  switch (bare) {
    case RAM_SAVE_FLAG_EOS:
      return { type: 'ram-eos', offset };
    case RAM_SAVE_FLAG_MULTIFD_FLUSH:
      return { type: 'ram-multifd-flush', offset };
    case RAM_SAVE_FLAG_MEM_SIZE:
      return readBlockList(r, st, offset, addr);
    case RAM_SAVE_FLAG_ZERO: {
      const block = recordBlock(r, st, flags, addr, offset);
      const fill = r.u8('zero page fill byte');
      st.lastBlock = block;
      return { type: 'ram-zero', offset, flags, block: block.idstr, addr, fill };
    }
    case RAM_SAVE_FLAG_PAGE: {
      const block = recordBlock(r, st, flags, addr, offset);
      const data = r.bytes(st.pageSize, `${st.pageSize}-byte page of ${block.idstr}`);
      st.lastBlock = block;
      return { type: 'ram-page', offset, flags, block: block.idstr, addr, data };
    }
    case RAM_SAVE_FLAG_XBZRLE: {
      const block = recordBlock(r, st, flags, addr, offset);
      const enc = r.u8('XBZRLE encoding flag');
      if (enc !== ENCODING_FLAG_XBZRLE) throw bad(r.offset - 1, `XBZRLE encoding flag 0x01`, `Failed to load XBZRLE page: encoding flag 0x${enc.toString(16)}`);
      const len = r.u16be('be16 XBZRLE length');
      if (len > st.pageSize) throw bad(r.offset - 2, `XBZRLE length ≤ ${st.pageSize}`, `Failed to load XBZRLE page: length ${len} exceeds a page`);
      const data = r.bytes(len, 'XBZRLE data');
      st.lastBlock = block;
      return { type: 'ram-xbzrle', offset, flags, block: block.idstr, addr, data };
    }
    case RAM_SAVE_FLAG_COMPRESS_PAGE: {
      const block = recordBlock(r, st, flags, addr, offset);
      const len = r.u32be('be32 compressed page length');
      const bound = compressBound(st.pageSize);
      if (len > bound) throw bad(r.offset - 4, `a compressed page length ≤ ${bound} (compressBound of a page)`, `Invalid compressed page length ${len}`);
      const data = r.bytes(len, 'compressed page data');
      st.lastBlock = block;
      return { type: 'ram-compressed', offset, flags, block: block.idstr, addr, data };
    }
    case RAM_SAVE_FLAG_HOOK:
      throw bad(offset, 'a RAM record', 'RAM record uses RAM_SAVE_FLAG_HOOK (RDMA), which vmig does not support');
    default:
      throw bad(offset, 'a RAM record with known flags', `Unknown combination of RAM flags 0x${flags.toString(16)}`);
  }
}

/** zlib's compressBound: the most deflate can emit for `n` input bytes (ram_load_precopy's limit). */
function compressBound(n: number): number {
  return n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 13;
}

function bad(offset: number, expected: string, message: string): MalformedError {
  return new MalformedError('ERR_STREAM_BAD_RAM', message, { offset, expected });
}

function recordBlock(r: ByteReader, st: RamDecodeState, flags: number, addr: number, offset: number): RamBlockInfo {
  let block: RamBlockInfo | undefined;
  if (flags & RAM_SAVE_FLAG_CONTINUE) {
    block = st.lastBlock;
    if (!block) throw bad(offset, 'a block idstr before the first CONTINUE record', 'RAM record has CONTINUE but no block was named before it');
  } else {
    const at = r.offset;
    const name = r.str8('RAM block idstr');
    block = st.blocks.get(name);
    if (!block) throw bad(at, 'a RAM block announced in MEM_SIZE', `Unknown RAM block ${JSON.stringify(name)}`);
  }
  if (addr >= block.usedLength) {
    throw bad(offset, `an offset below 0x${block.usedLength.toString(16)} in ${block.idstr}`, `Illegal RAM offset 0x${addr.toString(16)} in block ${block.idstr}`);
  }
  return block;
}

function readBlockList(r: ByteReader, st: RamDecodeState, offset: number, total: number): StreamItem {
  const blocks: RamBlockInfo[] = [];
  const names = new Set<string>();
  let remaining = total;
  while (remaining > 0) {
    if (blocks.length >= STREAM_MAX_RAM_BLOCKS) throw bad(r.offset, `at most ${STREAM_MAX_RAM_BLOCKS} RAM blocks`, 'MEM_SIZE lists too many RAM blocks');
    const at = r.offset;
    const idstr = r.str8('RAM block idstr');
    if (idstr.length === 0) throw bad(at, 'a non-empty RAM block idstr', 'MEM_SIZE lists a RAM block with an empty name');
    const [lh, ll] = r.u64beHalves(`be64 used length of ${idstr}`);
    const usedLength = lh * TWO_32 + ll;
    if (usedLength === 0 || usedLength > STREAM_MAX_RAM_BLOCK_BYTES || usedLength % st.pageSize !== 0) {
      throw bad(r.offset - 8, 'a page-aligned block length up to 1 TiB', `RAM block ${idstr} has invalid length 0x${usedLength.toString(16)}`);
    }
    if (usedLength > remaining) throw bad(r.offset - 8, `block lengths adding up to 0x${total.toString(16)}`, `RAM block ${idstr} overruns the announced RAM total`);
    const info: RamBlockInfo = { idstr, usedLength };
    if (st.postcopyPageSizes) info.pageSize = Number(r.u64be(`be64 page size of ${idstr}`));
    if (st.ignoreShared) info.addr = r.u64be(`be64 address of ${idstr}`);
    if (st.blocks.has(idstr) || names.has(idstr)) throw bad(at, 'distinct RAM block names', `RAM block ${idstr} is listed twice`);
    names.add(idstr);
    blocks.push(info);
    remaining -= usedLength;
  }
  for (const b of blocks) st.blocks.set(b.idstr, b);
  return { type: 'ram-blocks', offset, totalBytes: total, blocks };
}

/** Write one RAM record item back (flags as given, CONTINUE included). */
/** What writing RAM records needs to know. */
export interface RamEncodeState {
  ignoreShared: boolean;
  postcopyPageSizes: boolean;
  /** How a page's bytes are copied in (StreamEncoderOptions.copyPage). */
  copyPage?: CopyBytes;
}

export function writeRamRecord(w: ByteWriter, item: StreamItem, st: RamEncodeState): void {
  switch (item.type) {
    case 'ram-eos':
      w.u64beHalves(0, RAM_SAVE_FLAG_EOS);
      return;
    case 'ram-multifd-flush':
      w.u64beHalves(0, RAM_SAVE_FLAG_MULTIFD_FLUSH);
      return;
    case 'ram-blocks':
      writeHeaderWord(w, item.totalBytes, RAM_SAVE_FLAG_MEM_SIZE);
      for (const b of item.blocks) {
        w.str8(b.idstr);
        writeHeaderWord(w, b.usedLength, 0);
        if (st.postcopyPageSizes) w.u64be(BigInt(b.pageSize ?? 0));
        if (st.ignoreShared) w.u64be(b.addr ?? 0n);
      }
      return;
    case 'ram-page':
    case 'ram-zero':
    case 'ram-xbzrle':
    case 'ram-compressed':
      writeHeaderWord(w, item.addr, item.flags);
      if (!(item.flags & RAM_SAVE_FLAG_CONTINUE)) w.str8(item.block);
      if (item.type === 'ram-zero') w.u8(item.fill);
      else if (item.type === 'ram-page') w.bytes(item.data, st.copyPage);
      else if (item.type === 'ram-xbzrle') w.u8(ENCODING_FLAG_XBZRLE).u16be(item.data.length).bytes(item.data);
      else w.u32be(item.data.length).bytes(item.data);
      return;
    default:
      throw new RangeError(`${item.type} is not a RAM record`);
  }
}

/** be64 (value | flags) with value a page-aligned number < 2^53. */
export function writeHeaderWord(w: ByteWriter, value: number, flags: number): void {
  const hi = Math.floor(value / TWO_32);
  const lo = (value % TWO_32) + flags;
  w.u64beHalves(hi, lo >>> 0);
}

export { RAM_SAVE_FLAG_CONTINUE, RAM_SAVE_FLAG_ZERO, RAM_SAVE_FLAG_PAGE };

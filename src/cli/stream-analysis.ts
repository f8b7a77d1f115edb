/**
 * What `vmig analyze` computes: a whole stream decoded into sections, RAM
 * totals per block and devices by field name, the way QEMU's
 * scripts/analyze-migration.py does it (research §7), but without its
 * blind spots (configuration subsections, COMMAND sections, exact MEM_SIZE
 * parsing, and virtio-net decoded inside its opaque `virtio` field).
 *
 * Device sections carry no length, so, like analyze-migration.py, the
 * stream's own vmdesc trailer (read first, from the end of the file) says how
 * to frame every device; virtio-net sections are decoded by vmig's own
 * description. Without a vmdesc only devices vmig knows can be framed.
 */

import { ByteReader, ByteWriter, MalformedError, TruncatedError, decodeText, hex } from '../core/index.js';
import type { VmState, VmdescField, VmdescNode, Vmsd } from '../vmstate/index.js';
import { loadState, saveState, vmsdFromVmdesc } from '../vmstate/index.js';
import type { SectionCodec, SectionHeader, SectionResolver, StreamItem } from '../stream/index.js';
import { QEMU_VM_EOF, QEMU_VM_SECTION_FOOTER, QEMU_VM_VMDESCRIPTION, StreamDecoder } from '../stream/index.js';
import type { QemuFlavor } from '../devices/net/index.js';
import { hexBytes, netSectionVmsd, summarizeNetSection } from '../devices/net/index.js';
import type { NetSectionSummary } from '../devices/net/index.js';
import type { VirtioSavedState } from '../virtio/index.js';

export interface VmdescDocument {
  page_size?: number;
  configuration?: VmdescNode;
  devices: VmdescNode[];
}

/**
 * Find the vmdesc trailer (`0x00 EOF · 0x06 · be32 len · JSON` ending the
 * input) and parse it. Returns undefined when the stream has none.
 */
export function findVmdesc(bytes: Uint8Array): VmdescDocument | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lowest = Math.max(1, bytes.length - (64 << 20));
  for (let p = bytes.length - 6; p >= lowest; p--) {
    if (bytes[p] !== QEMU_VM_VMDESCRIPTION || bytes[p - 1] !== QEMU_VM_EOF) continue;
    if (view.getUint32(p + 1, false) !== bytes.length - p - 5) continue;
    try {
      const doc = JSON.parse(decodeText(bytes.subarray(p + 5))) as VmdescDocument;
      if (doc && Array.isArray(doc.devices)) return doc;
    } catch {
      // Not JSON: a coincidental match inside page data; keep looking.
    }
  }
  return undefined;
}

/** How a virtio-net section was framed: the loader's max_queue_pairs is not on the wire. */
function netCodec(flavor: QemuFlavor, expectedSize: number | undefined): SectionCodec {
  const vmsd = netSectionVmsd(flavor);
  return {
    load(r: ByteReader, header: SectionHeader): VmState {
      const start = r.position;
      const startOffset = r.offset;
      let truncated: unknown;
      let failure: unknown;
      let best: { state: VmState; end: number; score: number } | undefined;
      // Try "single queue pair" and "multiqueue" (only max_queue_pairs > 1
      // matters): keep the layout that ends where the section ends. Strong
      // evidence: the vmdesc size, or the footer with this section's id.
      // Weak: a byte that can start the next section (footer-less streams).
      for (const maxQueuePairs of [1, 2]) {
        r.rewind(start);
        const state: VmState = {};
        try {
          loadState(r, vmsd, state, header.version, { inferTransport: true, lenient: true, maxQueuePairs });
        } catch (err) {
          if (err instanceof TruncatedError) truncated ??= err;
          else failure ??= err;
          continue;
        }
        const consumed = r.offset - startOffset;
        const score = expectedSize !== undefined ? (consumed === expectedSize ? 2 : 0) : endScore(r, header.sectionId);
        if (score > (best?.score ?? 0)) best = { state, end: r.position, score };
      }
      if (best) {
        r.rewind(best.end);
        return best.state;
      }
      r.rewind(start);
      throw truncated ?? failure ?? new MalformedError('ERR_NET_BAD_STATE', `virtio-net section ${header.idstr} does not end where the stream says${expectedSize === undefined ? '' : ` (vmdesc says ${expectedSize} bytes)`}`, {
        offset: startOffset,
        expected: 'a virtio-net section in QEMU\'s layout',
      });
    },
    save(w: ByteWriter, state: VmState): void {
      saveState(w, vmsd, state, {});
    },
  };
}

/** 2: the footer of this section follows; 1: a byte that could start the next section; 0: neither. */
function endScore(r: ByteReader, sectionId: number): number {
  const next = r.peekU8(0, 'the byte after the virtio-net section');
  if (next === QEMU_VM_SECTION_FOOTER) {
    let id = 0;
    for (let i = 1; i <= 4; i++) id = id * 256 + r.peekU8(i, 'the footer\'s section id')!;
    return id === sectionId ? 2 : 0;
  }
  return next === undefined || next <= 0x08 ? 1 : 0;
}

function vmdescCodec(vmsd: Vmsd): SectionCodec {
  return {
    load(r: ByteReader, header: SectionHeader): VmState {
      const state: VmState = {};
      loadState(r, vmsd, state, header.version, { lenient: true });
      return state;
    },
    save(w: ByteWriter, state: VmState): void {
      saveState(w, vmsd, state, {});
    },
  };
}

function isVirtioNet(idstr: string, node: VmdescNode | undefined): boolean {
  return node ? node.vmsd_name === 'virtio-net' : idstr === 'virtio-net' || idstr.endsWith('/virtio-net');
}

/**
 * A resolver that frames every section: virtio-net by vmig's description,
 * other devices by the vmdesc. Codecs are built once per (idstr, instance).
 */
export function analysisResolver(vmdesc: VmdescDocument | undefined, flavor: QemuFlavor = '7.2'): SectionResolver {
  const byKey = new Map<string, VmdescNode>();
  for (const d of vmdesc?.devices ?? []) byKey.set(`${d.name}\u0000${d.instance_id}`, d);
  const cache = new Map<string, SectionCodec | undefined>();
  return (h: SectionHeader) => {
    const key = `${h.idstr}\u0000${h.instanceId}`;
    if (cache.has(key)) return cache.get(key);
    const node = byKey.get(key);
    let codec: SectionCodec | undefined;
    if (h.idstr === 'ram' && !node) codec = undefined;
    else if (isVirtioNet(h.idstr, node)) codec = netCodec(flavor, node?.fields?.find((f) => f.name === 'virtio')?.size);
    else if (node) codec = vmdescCodec(vmsdFromVmdesc(node));
    cache.set(key, codec);
    return codec;
  };
}

export interface SectionReport {
  type: 'start' | 'part' | 'end' | 'full';
  section_id: number;
  idstr: string;
  instance_id: number;
  version: number;
  offset: number;
  size: number;
}

export interface RamBlockReport {
  used_length: number;
  pages: number;
  zero_pages: number;
  /** Stream bytes taken by this block's records. */
  bytes: number;
}

export interface DeviceReport {
  key: string;
  idstr: string;
  instance_id: number;
  section_id: number;
  version: number;
  fields: unknown;
  /** Present for virtio-net sections. */
  net?: NetSectionSummary;
  /** The decoded state (wire-shaped), for tests and tools. */
  state: VmState;
}

export interface StreamReport {
  size: number;
  version: number;
  machine: string | null;
  configuration: Record<string, unknown> | null;
  sections: SectionReport[];
  commands: { offset: number; cmd: number; length: number }[];
  ram: { page_size: number; total_bytes: number; blocks: Record<string, RamBlockReport> };
  devices: DeviceReport[];
  vmdesc: { offset: number; size: number } | null;
  /** Every item, for re-encoding. */
  items: StreamItem[];
}

/**
 * Decode a whole stream held in memory.
 * @throws TruncatedError / MalformedError naming the offset and what was expected
 */
export function analyzeStream(bytes: Uint8Array, flavor: QemuFlavor = '7.2'): StreamReport {
  const vmdesc = findVmdesc(bytes);
  const resolve = analysisResolver(vmdesc, flavor);
  const pageSize = vmdesc?.page_size ?? 4096;
  const decoder = new StreamDecoder({ resolve, pageSize });
  const items = decoder.push(bytes);
  decoder.end();

  const report: StreamReport = {
    size: bytes.length,
    version: 3,
    machine: null,
    configuration: null,
    sections: [],
    commands: [],
    ram: { page_size: pageSize, total_bytes: 0, blocks: {} },
    devices: [],
    vmdesc: null,
    items,
  };
  const nodes = new Map<string, VmdescNode>();
  for (const d of vmdesc?.devices ?? []) nodes.set(`${d.name}\u0000${d.instance_id}`, d);
  let open: SectionReport | undefined;
  let prevRecordEnd = 0;
  let prevBlock: RamBlockReport | undefined;
  const closeRecord = (at: number) => {
    if (prevBlock) prevBlock.bytes += at - prevRecordEnd;
    prevBlock = undefined;
  };
  for (const it of items) {
    if (it.type !== 'ram-page' && it.type !== 'ram-zero' && it.type !== 'ram-xbzrle' && it.type !== 'ram-compressed') closeRecord(it.offset);
    switch (it.type) {
      case 'header':
        report.version = it.version;
        break;
      case 'configuration':
        report.machine = it.config.machine;
        report.configuration = { ...it.config, uuid: it.config.uuid ? hexBytes(it.config.uuid) : undefined };
        break;
      case 'section':
        if (open) open.size = it.offset - open.offset;
        open = { type: it.header.kind, section_id: it.header.sectionId, idstr: it.header.idstr, instance_id: it.header.instanceId, version: it.header.version, offset: it.offset, size: 0 };
        report.sections.push(open);
        break;
      case 'footer':
        if (open) open.size = it.offset + 5 - open.offset;
        open = undefined;
        break;
      case 'command':
        if (open) open.size = it.offset - open.offset;
        open = undefined;
        report.commands.push({ offset: it.offset, cmd: it.cmd, length: it.data.length });
        break;
      case 'eof':
      case 'vmdesc':
        if (open) open.size = it.offset - open.offset;
        open = undefined;
        if (it.type === 'vmdesc') report.vmdesc = { offset: it.offset, size: it.json.length };
        break;
      case 'ram-blocks':
        report.ram.total_bytes += it.totalBytes;
        for (const b of it.blocks) report.ram.blocks[b.idstr] = { used_length: b.usedLength, pages: 0, zero_pages: 0, bytes: 0 };
        break;
      case 'ram-page':
      case 'ram-zero':
      case 'ram-xbzrle':
      case 'ram-compressed': {
        closeRecord(it.offset);
        const b = report.ram.blocks[it.block]!;
        if (it.type === 'ram-zero') b.zero_pages++;
        else b.pages++;
        prevBlock = b;
        prevRecordEnd = it.offset;
        break;
      }
      case 'device-state': {
        const key = `${it.header.idstr} (${it.header.sectionId})`;
        const node = nodes.get(`${it.header.idstr}\u0000${it.header.instanceId}`);
        const dev: DeviceReport = { key, idstr: it.header.idstr, instance_id: it.header.instanceId, section_id: it.header.sectionId, version: it.header.version, fields: null, state: it.state };
        if (isVirtioNet(it.header.idstr, node)) {
          dev.net = summarizeNetSection(it.header.idstr, it.header.instanceId, it.header.version, it.state as VirtioSavedState);
          dev.fields = dev.net;
        } else if (node) {
          dev.fields = formatByVmdesc(node, it.state);
        }
        report.devices.push(dev);
        break;
      }
      default:
        break;
    }
  }
  return report;
}

/** analyze-migration.py's value rendering: ints as zero-padded hex, buffers as hex bytes. */
function formatByVmdesc(node: VmdescNode, state: VmState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of node.fields ?? []) {
    const key = f.index !== undefined ? `${f.name}[${f.index}]` : f.name;
    const v = state[key];
    out[key] = Array.isArray(v) ? v.map((e) => formatValue(f, e)) : formatValue(f, v);
  }
  for (const s of node.subsections ?? []) {
    const name = s.vmsd_name ?? '';
    const sub = state[name];
    if (sub && typeof sub === 'object') out[name] = formatByVmdesc(s, sub as VmState);
  }
  return out;
}

function formatValue(f: VmdescField, v: unknown): unknown {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') {
    const big = BigInt(v);
    if (big < 0n) {
      const unsigned = (1n << BigInt(f.size * 8)) + big;
      return `${hex(unsigned, f.size * 2)} (${big})`;
    }
    return hex(big, f.size * 2);
  }
  if (v instanceof Uint8Array) return hexBytes(v);
  if (v && typeof v === 'object') {
    const child = f.struct ?? (f.fields ? { vmsd_name: f.vmsd_name, fields: f.fields, subsections: f.subsections } : undefined);
    return child ? formatByVmdesc(child, v as VmState) : v;
  }
  return v ?? null;
}

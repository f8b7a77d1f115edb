/**
 * vmdesc: the JSON description QEMU appends to a stream (QEMU_VM_VMDESCRIPTION,
 * research/qemu-wire-format.md §1.8).
 *
 * - `formatQemuJson` prints JSON the way QEMU's JSON writer does (", " and ": "
 *   separators, no newlines), so vmig's trailer reads like QEMU's.
 * - `vmsdFromVmdesc` turns a device entry of someone else's vmdesc back into a
 *   description the interpreter can load with, the way analyze-migration.py
 *   decodes devices it has no code for: field by field, trusting `size`.
 */

import { MalformedError } from '../core/index.js';
import type { ByteWriter } from '../core/index.js';
import type { Field, FieldType, IntType, VmState, Vmsd, VmstateContext } from './description.js';
import type { JsonObject } from './interpreter.js';
import { saveState } from './interpreter.js';
import { getPath, setPath } from './interpreter.js';

/** Serialize like QEMU's json-writer: `{"a": 1, "b": [1, 2]}`. bigint prints as a number. */
export function formatQemuJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(formatQemuJson).join(', ')}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}: ${formatQemuJson(v)}`);
  }
  return `{${parts.join(', ')}}`;
}

/** A device (or struct, or subsection) entry of a vmdesc, as parsed JSON. */
export interface VmdescNode {
  name?: string;
  instance_id?: number;
  vmsd_name?: string;
  version?: number;
  fields?: VmdescField[];
  subsections?: VmdescNode[];
}

export interface VmdescField {
  name: string;
  type: string;
  size: number;
  array_len?: number;
  index?: number;
  struct?: VmdescNode;
  // `tmp` fields carry their child description inline.
  vmsd_name?: string;
  version?: number;
  fields?: VmdescField[];
  subsections?: VmdescNode[];
}

const INT_TYPES: Record<string, { type: IntType; equal?: boolean; le?: boolean }> = {
  int8: { type: 'int8' },
  int16: { type: 'int16' },
  int32: { type: 'int32' },
  int64: { type: 'int64' },
  uint8: { type: 'uint8' },
  uint16: { type: 'uint16' },
  uint32: { type: 'uint32' },
  uint64: { type: 'uint64' },
  'int32 equal': { type: 'int32', equal: true },
  'uint32 equal': { type: 'uint32', equal: true },
  'uint8 equal': { type: 'uint8', equal: true },
  'uint16 equal': { type: 'uint16', equal: true },
  'int64 equal': { type: 'uint64', equal: true },
  'int32 le': { type: 'int32', le: true },
};

const INT_SIZES: Record<IntType, number> = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 };

function bad(message: string): MalformedError {
  return new MalformedError('ERR_VMSTATE_BAD_VMDESC', `Cannot use the stream's vmdesc: ${message}`, { offset: 0, expected: 'a vmdesc in QEMU\'s shape' });
}

function fieldTypeFrom(f: VmdescField, depth: number): FieldType {
  if (!Number.isInteger(f.size) || f.size < 0) throw bad(`field ${f.name} has no valid size`);
  const int = INT_TYPES[f.type];
  if (int && INT_SIZES[int.type] === f.size) return { kind: 'int', ...int };
  if (f.type === 'bool' && f.size === 1) return { kind: 'bool' };
  if ((f.type === 'struct' || f.type === 'vstruct') && f.struct) return { kind: 'struct', vmsd: vmsdFromVmdesc(f.struct, depth + 1) };
  if ((f.type === 'tmp' || f.type === 'vstruct') && f.fields) {
    return { kind: 'struct', vmsd: vmsdFromVmdesc({ vmsd_name: f.vmsd_name ?? f.name, version: f.version ?? 0, fields: f.fields, subsections: f.subsections }, depth + 1) };
  }
  // Everything else (buffer, unused_buffer, timer, virtio, pci config, …) is
  // `size` opaque bytes, exactly as analyze-migration.py reads it.
  return { kind: 'buffer', size: f.size };
}

/**
 * Build a loadable description from a vmdesc node. Values land under the
 * vmdesc field names (with their "[k]" suffixes); each subsection's fields
 * land in an object keyed by the subsection's name.
 * @throws MalformedError ERR_VMSTATE_BAD_VMDESC when the node is not shaped like QEMU's
 */
export function vmsdFromVmdesc(node: VmdescNode, depth = 0, prefix: string[] = []): Vmsd {
  if (depth > 32) throw bad('nesting deeper than 32');
  const name = node.vmsd_name ?? node.name;
  if (typeof name !== 'string' || !Array.isArray(node.fields ?? [])) throw bad('a node has no vmsd_name or fields');
  const fields: Field[] = [];
  for (const f of node.fields ?? []) {
    if (typeof f?.name !== 'string' || typeof f.type !== 'string') throw bad('a field has no name or type');
    const type = fieldTypeFrom(f, depth);
    const key = f.index !== undefined ? `${f.name}[${f.index}]` : f.name;
    const field: Field = { name: f.name, path: [...prefix, key], type };
    if (f.array_len !== undefined) {
      if (!Number.isInteger(f.array_len) || f.array_len < 0 || f.array_len > 1 << 20) throw bad(`field ${f.name} has a bad array_len`);
      field.count = f.array_len;
    }
    fields.push(field);
  }
  const subsections = (node.subsections ?? []).map((s) => {
    const subName = s.vmsd_name ?? '';
    const path = [...prefix, subName];
    const sub = vmsdFromVmdesc(s, depth + 1, path);
    // Subsections share their parent's state object: a nested one's values sit
    // under every enclosing subsection's name. An empty one still leaves {}.
    sub.needed = (state) => getPath(state, path) !== undefined;
    sub.postLoad = (state) => {
      if (getPath(state, path) === undefined) setPath(state, path, {});
    };
    return sub;
  });
  // The vmdesc records the version actually sent; re-encoding writes it back.
  const version = typeof node.version === 'number' && Number.isInteger(node.version) && node.version >= 0 ? node.version : 0;
  return { name, version, fields, subsections };
}

/**
 * Save a top-level section body and return its vmdesc `devices` entry in
 * QEMU's key order: name, instance_id, vmsd_name, version, fields, subsections.
 */
export function saveWithVmdesc(w: ByteWriter, vmsd: Vmsd, state: VmState, idstr: string, instanceId: number, ctx: VmstateContext = {}): JsonObject {
  const entry: JsonObject = { name: idstr, instance_id: instanceId };
  saveState(w, vmsd, state, ctx, entry);
  return entry;
}

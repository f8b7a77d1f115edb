/**
 * The one interpreter for every description: `saveState` writes a state object
 * as QEMU's vmstate_save_state would, `loadState` reads it back as
 * vmstate_load_state would (research/qemu-wire-format.md §2.3–2.6):
 *
 *   fields in order, each present iff exists(state, V) or version ≤ V
 *   then subsections: 0x05 · str8 name · be32 version · body (recursively)
 *
 * Load rules kept from QEMU because streams depend on them:
 * - `exists` predicates see the state as loaded so far (earlier fields count);
 * - nested structs load with the *local* sub-description's version;
 * - a subsection whose name lacks the parent's prefix ends the parent's list
 *   silently (it belongs to an outer level); a prefixed but unknown name fails;
 * - a subsection's be32 version is truncated to 8 bits.
 *
 * Every failure names the description and field (`details.path`). Truncation
 * stays a TruncatedError so incremental decoders can wait for more bytes.
 */

import { ByteReader, ByteWriter, MalformedError, TruncatedError, VmigError, decodeText } from '../core/index.js';
import type { Field, FieldType, IntType, SizeSpec, VmState, Vmsd, VmstateContext } from './description.js';
import { intWidth, vmdescTypeName } from './description.js';
import { VMSTATE_MAX_BUFFER_BYTES, VMSTATE_MAX_DEPTH, VMSTATE_MAX_ELEMENTS } from './limits.js';

export const QEMU_VM_SUBSECTION = 0x05;

/** A vmdesc JSON node under construction (key order is preserved, as QEMU prints it). */
export type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------- helpers

/** Per-field values derived once (paths, error wording) so the hot load loop allocates nothing. */
interface FieldInfo {
  path: string[];
  expected: string;
}

const fieldInfo = new WeakMap<Field, FieldInfo>();

function infoOf(field: Field): FieldInfo {
  let info = fieldInfo.get(field);
  if (!info) {
    const t = field.type;
    const what = t.kind === 'int' ? ({ int8: 'i8', uint8: 'u8', int16: 'be16', uint16: 'be16', int32: 'be32', uint32: 'be32', int64: 'be64', uint64: 'be64' } as const)[t.type] : t.kind;
    info = { path: field.path ?? [field.name], expected: `${what} ${field.name}` };
    fieldInfo.set(field, info);
  }
  return info;
}

function pathOf(field: Field): string[] {
  return infoOf(field).path;
}

export function getPath(state: VmState, path: readonly string[]): unknown {
  let cur: unknown = state;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function setPath(state: VmState, path: readonly string[], value: unknown): void {
  let cur = state as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    let next = cur[key];
    if (next === null || typeof next !== 'object') {
      next = {};
      cur[key] = next;
    }
    cur = next as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function isPresent(field: Field, state: VmState, version: number, ctx: VmstateContext): boolean {
  if (field.exists) return field.exists(state, version, ctx);
  return (field.version ?? 0) <= version;
}

function resolveSize(spec: SizeSpec, state: VmState, what: string, offset: number): number {
  if (typeof spec === 'number') return spec;
  const raw = getPath(state, spec.field);
  const base = typeof raw === 'bigint' ? Number(raw) : typeof raw === 'boolean' ? Number(raw) : (raw as number);
  if (typeof base !== 'number' || !Number.isFinite(base) || base < 0) {
    throw new MalformedError('ERR_VMSTATE_BAD_SIZE', `Cannot size ${what}: field ${spec.field.join('.')} holds ${String(raw)}, not a count`, {
      offset,
      expected: `a count in ${spec.field.join('.')}`,
    });
  }
  return base * (spec.multiply ?? 1);
}

function checkLimit(n: number, limit: number, what: string, offset: number): void {
  if (n > limit) {
    throw new MalformedError('ERR_VMSTATE_TOO_LARGE', `Refusing ${what}: ${n} exceeds the limit of ${limit}`, {
      offset,
      expected: `${what} ≤ ${limit}`,
    });
  }
}

/** QEMU vmsd_can_compress: arrays of this field print as one vmdesc entry with array_len. */
function canCompress(field: Field): boolean {
  if (field.exists) return false;
  // QEMU looks inside VMS_STRUCT only, not VMS_VSTRUCT.
  if (field.type.kind === 'struct' && field.type.structVersion === undefined) {
    const sub = field.type.vmsd;
    if (sub.subsections && sub.subsections.length > 0) return false;
    return sub.fields.every(canCompress);
  }
  return true;
}

function vmdescFieldName(vmsd: Vmsd, field: Field): string {
  let total = 0;
  let index = 0;
  for (const f of vmsd.fields) {
    if (f === field) index = total;
    if (f.name === field.name) total++;
  }
  return total > 1 ? `${field.name}[${index}]` : field.name;
}

function annotate(err: unknown, vmsd: Vmsd, field: Field | string): unknown {
  if (err instanceof VmigError) {
    const name = typeof field === 'string' ? field : field.name;
    const prev = err.details.path;
    // A subsection's path already starts with its parent's name ("dev/sub.x").
    if (typeof prev === 'string') err.details.path = prev.startsWith(`${vmsd.name}/`) ? prev : `${vmsd.name}/${prev}`;
    else err.details.path = `${vmsd.name}.${name}`;
  }
  return err;
}

// ---------------------------------------------------------------- save

/**
 * Write `state` as described by `vmsd` (fields, then needed subsections).
 * When `json` is given, the vmdesc entries QEMU would print are added to it
 * (`vmsd_name`, `version`, `fields`, `subsections`).
 */
export function saveState(w: ByteWriter, vmsd: Vmsd, state: VmState, ctx: VmstateContext = {}, json?: JsonObject, version = vmsd.version): void {
  vmsd.preSave?.(state, ctx);
  if (json) {
    json.vmsd_name = vmsd.name;
    json.version = version;
  }
  const jsonFields: JsonObject[] | undefined = json ? [] : undefined;
  if (json) json.fields = jsonFields;
  try {
    for (const field of vmsd.fields) {
      if (!isPresent(field, state, version, ctx)) {
        if (field.mustExist) throw new RangeError(`${vmsd.name}.${field.name} must exist but is gated out`);
        continue;
      }
      saveField(w, vmsd, field, state, ctx, jsonFields);
    }
    saveSubsections(w, vmsd, state, ctx, json);
  } finally {
    vmsd.postSave?.(state, ctx);
  }
}

function saveSubsections(w: ByteWriter, vmsd: Vmsd, state: VmState, ctx: VmstateContext, json?: JsonObject): void {
  if (!vmsd.subsections) return;
  let jsonSubs: JsonObject[] | undefined;
  for (const sub of vmsd.subsections) {
    if (sub.needed && !sub.needed(state, ctx)) continue;
    w.u8(QEMU_VM_SUBSECTION).str8(sub.name).u32be(sub.version);
    let subJson: JsonObject | undefined;
    if (json) {
      if (!jsonSubs) {
        jsonSubs = [];
        json.subsections = jsonSubs;
      }
      subJson = {};
      jsonSubs.push(subJson);
    }
    saveState(w, sub, state, ctx, subJson);
  }
}

function saveField(w: ByteWriter, vmsd: Vmsd, field: Field, state: VmState, ctx: VmstateContext, jsonFields?: JsonObject[]): void {
  const type = field.type;
  if (type.kind === 'validate') return;
  if (type.kind === 'custom' || type.kind === 'tmp') {
    const start = w.length;
    const entry = jsonFields ? startJsonField(vmsd, field, 0, 1, jsonFields) : undefined;
    if (type.kind === 'custom') type.codec.save(w, state, ctx);
    else saveState(w, type.vmsd, state, ctx, entry, type.vmsd.version);
    if (entry) entry.size = w.length - start;
    return;
  }
  const value = getPath(state, pathOf(field));
  if (field.count === undefined) {
    const start = w.length;
    const entry = jsonFields ? startJsonField(vmsd, field, 0, 1, jsonFields) : undefined;
    saveElement(w, field, type, value, state, ctx, entry);
    if (entry) finishJsonField(entry, type, w.length - start);
    return;
  }
  const n = resolveSize(field.count, state, `${vmsd.name}.${field.name}`, 0);
  if (!Array.isArray(value) || value.length < n) {
    throw new RangeError(`${vmsd.name}.${field.name}: expected an array of at least ${n} elements to save`);
  }
  const compress = canCompress(field);
  for (let i = 0; i < n; i++) {
    const start = w.length;
    const entry = jsonFields && (i === 0 || !compress) ? startJsonField(vmsd, field, i, n, jsonFields, compress) : undefined;
    saveElement(w, field, type, value[i], state, ctx, entry);
    if (entry) finishJsonField(entry, type, w.length - start);
  }
}

function startJsonField(vmsd: Vmsd, field: Field, index: number, n: number, out: JsonObject[], compress = true): JsonObject {
  const entry: JsonObject = { name: vmdescFieldName(vmsd, field) };
  if (n > 1) {
    if (compress) entry.array_len = n;
    else entry.index = index;
  }
  entry.type = vmdescTypeName(field.type);
  out.push(entry);
  return entry;
}

function finishJsonField(entry: JsonObject, type: FieldType, size: number): void {
  // QEMU closes the nested "struct" object before writing "size".
  if (type.kind === 'struct' && type.structVersion === undefined && entry.struct === undefined) entry.struct = {};
  entry.size = size;
}

function saveElement(w: ByteWriter, field: Field, type: FieldType, value: unknown, state: VmState, ctx: VmstateContext, entry?: JsonObject): void {
  switch (type.kind) {
    case 'int':
      writeInt(w, type.type, value, field.name);
      return;
    case 'bool':
      if (typeof value !== 'boolean') throw new RangeError(`${field.name}: expected a boolean to save, got ${typeof value}`);
      w.u8(value ? 1 : 0);
      return;
    case 'timer':
      if (typeof value !== 'bigint') throw new RangeError(`${field.name}: expected a bigint timer expiry`);
      w.i64be(value);
      return;
    case 'buffer': {
      const size = resolveSize(type.size, state, field.name, 0);
      if (!(value instanceof Uint8Array) || value.length < size) throw new RangeError(`${field.name}: expected a Uint8Array of ${size} bytes to save`);
      w.bytes(value.length === size ? value : value.subarray(0, size));
      return;
    }
    case 'unused':
      w.zeros(resolveSize(type.size, state, field.name, 0));
      return;
    case 'bitmap': {
      const bits = resolveSize(type.bits, state, field.name, 0);
      if (!(value instanceof Uint8Array) || value.length * 8 < bits) throw new RangeError(`${field.name}: expected a bitmap of ${bits} bits`);
      writeBitmap(w, value, bits);
      return;
    }
    case 'struct': {
      if (value === null || typeof value !== 'object') throw new RangeError(`${field.name}: expected an object for struct ${type.vmsd.name}`);
      // VMS_STRUCT nests its description under "struct"; VMS_VSTRUCT (like tmp)
      // writes vmsd_name/version/fields into the field's own entry.
      // Flat structs (virtio's 1024-entry tables) take the tight loop unless a vmdesc is being built.
      const flat = !entry && type.structVersion === undefined && !type.vmsd.preSave && !type.vmsd.postSave ? flatLayout(type.vmsd) : undefined;
      if (flat) {
        saveFlat(w, flat, value as VmState);
        return;
      }
      let sub: JsonObject | undefined = entry;
      if (entry && type.structVersion === undefined) {
        sub = {};
        entry.struct = sub;
      }
      saveState(w, type.vmsd, value as VmState, ctx, sub, type.structVersion ?? type.vmsd.version);
      return;
    }
    case 'tmp':
    case 'custom':
    case 'validate':
      throw new RangeError(`${field.name}: ${type.kind} fields cannot be array elements`);
  }
}

function writeInt(w: ByteWriter, type: string, value: unknown, name: string): void {
  switch (type) {
    case 'uint8':
      w.u8(value as number);
      return;
    case 'int8':
      w.i8(value as number);
      return;
    case 'uint16':
      w.u16be(value as number);
      return;
    case 'int16':
      w.i16be(value as number);
      return;
    case 'uint32':
      w.u32be(value as number);
      return;
    case 'int32':
      w.i32be(value as number);
      return;
    case 'uint64':
      if (typeof value !== 'bigint') throw new RangeError(`${name}: expected a bigint for uint64`);
      w.u64be(value);
      return;
    case 'int64':
      if (typeof value !== 'bigint') throw new RangeError(`${name}: expected a bigint for int64`);
      w.i64be(value);
      return;
  }
}

function writeBitmap(w: ByteWriter, bits: Uint8Array, nbits: number): void {
  const words = Math.ceil(nbits / 64);
  for (let i = 0; i < words; i++) {
    // Word i carries bits 64i..64i+63, lowest bit in the LSB: its little-endian
    // bytes are our bytes 8i..8i+7, so on the (big-endian) wire they reverse.
    // Like QEMU's put_bitmap, the last word goes out whole (bits past nbits
    // included), so a decoded bitmap re-encodes to the same bytes.
    for (let b = 7; b >= 0; b--) {
      const at = i * 8 + b;
      w.u8(at < bits.length ? bits[at]! : 0);
    }
  }
}

// ---------------------------------------------------------------- load

/**
 * Read a body described by `vmsd` at stream version `version` into `state`
 * (which holds the loader's current values: `equal` and `le` fields compare
 * against them). Set `ctx.lenient = true` to accept any value for `equal`/`le`
 * fields, as a decoder without a live device must.
 * @throws TruncatedError when the input ends early, MalformedError or VmigError when it is invalid
 */
export function loadState(r: ByteReader, vmsd: Vmsd, state: VmState, version: number, ctx: VmstateContext = {}, depth = 0): void {
  if (depth > VMSTATE_MAX_DEPTH) throw new RangeError(`${vmsd.name}: descriptions nest deeper than ${VMSTATE_MAX_DEPTH}`);
  if (version > vmsd.version) {
    throw new MalformedError('ERR_VMSTATE_VERSION_TOO_NEW', `Cannot load ${vmsd.name}: incoming version ${version} is newer than ${vmsd.version}; migrate to a newer vmig or use an older machine type on the source`, {
      offset: r.offset,
      expected: `${vmsd.name} version ≤ ${vmsd.version}`,
    });
  }
  if (version < (vmsd.minimumVersion ?? 0)) {
    throw new MalformedError('ERR_VMSTATE_VERSION_TOO_OLD', `Cannot load ${vmsd.name}: incoming version ${version} is older than the oldest supported, ${vmsd.minimumVersion}`, {
      offset: r.offset,
      expected: `${vmsd.name} version ≥ ${vmsd.minimumVersion}`,
    });
  }
  vmsd.preLoad?.(state, ctx);
  for (const field of vmsd.fields) {
    try {
      if (!isPresent(field, state, version, ctx)) {
        if (field.mustExist) {
          throw new MalformedError('ERR_VMSTATE_VALIDATION', `Input validation failed for ${vmsd.name}.${field.name}`, { offset: r.offset, expected: `${field.name} present` });
        }
        continue;
      }
      loadField(r, vmsd, field, state, version, ctx, depth);
    } catch (err) {
      throw annotate(err, vmsd, field);
    }
  }
  try {
    loadSubsections(r, vmsd, state, ctx, depth);
  } catch (err) {
    throw annotate(err, vmsd, 'subsections');
  }
  vmsd.postLoad?.(state, version, ctx);
}

function loadSubsections(r: ByteReader, vmsd: Vmsd, state: VmState, ctx: VmstateContext, depth: number): void {
  const subs = vmsd.subsections ?? [];
  const prefixLen = vmsd.name.length;
  for (;;) {
    if (r.peekU8() !== QEMU_VM_SUBSECTION) return;
    // QEMU peeks the length and the name; on a complete input, bytes it cannot
    // peek mean "not a subsection" (qemu_peek_byte reads 0 at EOF, a short
    // qemu_peek_buffer returns success). When more may follow, peekU8 throws
    // TruncatedError instead, so an incremental decoder waits for the bytes.
    const len = r.peekU8(1, 'subsection name length');
    if (len === undefined || len < prefixLen + 1) return;
    if (r.peekU8(1 + len, 'subsection name') === undefined) return;
    const start = r.position;
    r.skip(2);
    const name = decodeText(r.bytes(len));
    if (!name.startsWith(vmsd.name)) {
      r.rewind(start);
      return;
    }
    const sub = subs.find((s) => s.name === name);
    if (!sub) {
      throw new MalformedError('ERR_VMSTATE_UNKNOWN_SUBSECTION', `Cannot load ${vmsd.name}: unknown subsection ${name}; the source runs a newer or differently configured device`, {
        offset: r.offset - len - 2,
        expected: `a known subsection of ${vmsd.name}`,
      });
    }
    const version = r.u32be(`version of subsection ${name}`) & 0xff;
    loadState(r, sub, state, version, ctx, depth + 1);
  }
}

function loadField(r: ByteReader, vmsd: Vmsd, field: Field, state: VmState, version: number, ctx: VmstateContext, depth: number): void {
  const type = field.type;
  if (type.kind === 'validate') {
    const msg = type.check(state, version, ctx);
    if (msg) throw new MalformedError('ERR_VMSTATE_VALIDATION', `Input validation failed for ${vmsd.name}.${field.name}: ${msg}`, { offset: r.offset, expected: field.name });
    return;
  }
  if (type.kind === 'custom') {
    type.codec.load(r, state, ctx);
    return;
  }
  if (type.kind === 'tmp') {
    // QEMU's get_tmp loads the child with the field's version_id (0 in practice),
    // while put_tmp saves it with the child's own version.
    loadState(r, type.vmsd, state, field.version ?? 0, ctx, depth + 1);
    return;
  }
  const path = pathOf(field);
  const offset = r.offset;
  let value: unknown;
  if (field.count === undefined) {
    value = loadElement(r, field, type, getPath(state, path), state, ctx, depth);
  } else {
    const n = resolveSize(field.count, state, `${vmsd.name}.${field.name}`, offset);
    checkLimit(n, VMSTATE_MAX_ELEMENTS, `${field.name} element count`, offset);
    const current = getPath(state, path);
    if (type.kind === 'int' && !type.equal && !type.le) {
      // Plain int arrays (e.g. a 16 KiB chip config of uint8) skip the per-element dispatch.
      const expected = infoOf(field).expected;
      const arr: (number | bigint)[] = new Array(n);
      for (let i = 0; i < n; i++) arr[i] = readInt(r, type.type, expected);
      value = arr;
    } else {
      const arr: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        arr[i] = loadElement(r, field, type, Array.isArray(current) ? current[i] : undefined, state, ctx, depth);
      }
      value = arr;
    }
  }
  if (field.validate) {
    const msg = field.validate(value, state, ctx);
    if (msg) throw new MalformedError('ERR_VMSTATE_VALIDATION', `Input validation failed for ${vmsd.name}.${field.name}: ${msg}`, { offset, expected: `a valid ${field.name}` });
  }
  if (type.kind !== 'unused') setPath(state, path, value);
}

function loadElement(r: ByteReader, field: Field, type: FieldType, current: unknown, state: VmState, ctx: VmstateContext, depth: number): unknown {
  switch (type.kind) {
    case 'int': {
      const offset = r.offset;
      const v = readInt(r, type.type, infoOf(field).expected);
      if (!ctx.lenient && current !== undefined) {
        if (type.equal && v !== current) {
          throw new MalformedError('ERR_VMSTATE_NOT_EQUAL', `Cannot load ${field.name}: the stream has ${String(v)} but this side has ${String(current)}; both sides must be configured alike`, {
            offset,
            expected: `${field.name} = ${String(current)}`,
          });
        }
        if (type.le && ((v as number) < 0 || (v as number) > (current as number))) {
          throw new MalformedError('ERR_VMSTATE_OUT_OF_RANGE', `Cannot load ${field.name}: ${String(v)} is outside 0..${String(current)}`, {
            offset,
            expected: `0 ≤ ${field.name} ≤ ${String(current)}`,
          });
        }
      }
      return v;
    }
    case 'bool':
      return r.u8(infoOf(field).expected) !== 0;
    case 'timer':
      return r.i64be(infoOf(field).expected);
    case 'buffer': {
      const size = resolveSize(type.size, state, field.name, r.offset);
      checkLimit(size, VMSTATE_MAX_BUFFER_BYTES, `${field.name} size`, r.offset);
      // Copy: the loaded state must not alias the (reused) input buffers.
      return r.bytes(size, `${size} bytes of ${field.name}`).slice();
    }
    case 'unused': {
      const size = resolveSize(type.size, state, field.name, r.offset);
      checkLimit(size, VMSTATE_MAX_BUFFER_BYTES, `${field.name} size`, r.offset);
      r.skip(size, `${size} unused bytes of ${field.name}`);
      return undefined;
    }
    case 'bitmap': {
      const bits = resolveSize(type.bits, state, field.name, r.offset);
      checkLimit(bits, VMSTATE_MAX_BUFFER_BYTES * 8, `${field.name} bit count`, r.offset);
      const words = Math.ceil(bits / 64);
      // Read (bounds-check) before allocating: the bit count comes from the stream.
      const raw = r.bytes(words * 8, `bitmap ${field.name}`);
      const out = new Uint8Array(words * 8);
      for (let i = 0; i < words; i++) for (let b = 0; b < 8; b++) out[i * 8 + b] = raw[i * 8 + 7 - b]!;
      return out;
    }
    case 'struct': {
      const target = current !== null && typeof current === 'object' ? (current as VmState) : {};
      // The flat path knows only the sub-description's own version (no VMS_VSTRUCT).
      // It runs only when the whole body and the byte after it are in hand, so it
      // cannot fail; short input goes the general way, which names the field
      // that ran out and, on a live stream, waits at the same place.
      const flat = type.structVersion === undefined ? flatLayout(type.vmsd) : undefined;
      if (flat && r.remaining > flat.minBytes && r.peekU8(flat.minBytes) !== QEMU_VM_SUBSECTION) loadFlat(r, flat, target);
      else loadState(r, type.vmsd, target, type.structVersion ?? type.vmsd.version, ctx, depth + 1);
      return target;
    }
    case 'tmp':
    case 'custom':
    case 'validate':
      throw new RangeError(`${field.name}: ${type.kind} fields cannot be array elements`);
  }
}

function readInt(r: ByteReader, type: string, expected: string): number | bigint {
  switch (type) {
    case 'uint8':
      return r.u8(expected);
    case 'int8':
      return r.i8(expected);
    case 'uint16':
      return r.u16be(expected);
    case 'int16':
      return r.i16be(expected);
    case 'uint32':
      return r.u32be(expected);
    case 'int32':
      return r.i32be(expected);
    case 'uint64':
      return r.u64be(expected);
    default:
      return r.i64be(expected);
  }
}

// ---------------------------------------------------------------- flat structs

/**
 * A struct made only of plain ints, bools and unused bytes (no hooks, gates,
 * subsections or nesting) loads the same through a tight loop as through
 * loadState. virtio's 1024-entry ring arrays are such structs; the fast path
 * is what keeps decoding a virtio section cheap. The caller checks that no
 * subsection marker follows the element (then the general path runs, with
 * QEMU's subsection rules).
 */
interface FlatLayout {
  /** `count` is the element count of an array field, -1 for a scalar. */
  steps: { key: string; type: IntType | 'bool' | 'unused'; count: number; size: number; expected: string }[];
  minBytes: number;
  /** The same loops unrolled into straight-line code, compiled on first use (see compileFlat). */
  save?: (w: ByteWriter, source: VmState) => void;
  load?: (r: ByteReader, target: VmState) => void;
}

const WRITE_METHOD: Record<IntType, string> = { uint8: 'u8', int8: 'i8', uint16: 'u16be', int16: 'i16be', uint32: 'u32be', int32: 'i32be', uint64: 'u64be', int64: 'i64be' };
const READ_METHOD: Record<IntType, string> = { uint8: 'u8', int8: 'i8', uint16: 'u16be', int16: 'i16be', uint32: 'u32be', int32: 'i32be', uint64: 'u64be', int64: 'i64be' };

/**
 * Compile a flat layout into two straight-line functions. virtio's
 * 1024-entry tables are arrays of such structs; the step loop with its
 * per-value type switch cost more than the bytes themselves (a virtio-net
 * save or load is part of the downtime). Keys and messages come from
 * vmig's own descriptions and enter the code only as JSON string literals;
 * the ByteWriter/ByteReader methods keep their range and bounds checks.
 */
function compileFlat(layout: FlatLayout): void {
  const save: string[] = [];
  const load: string[] = [];
  layout.steps.forEach((step, n) => {
    const key = JSON.stringify(step.key);
    const exp = `E[${n}]`;
    if (step.type === 'unused') {
      save.push(`w.zeros(${step.size});`);
      load.push(`r.skip(${step.size}, ${exp});`);
    } else if (step.type === 'bool') {
      save.push(`{ const v = s[${key}]; if (typeof v !== 'boolean') throw new RangeError(${JSON.stringify(`${step.key}: expected a boolean to save`)}); w.u8(v ? 1 : 0); }`);
      load.push(`t[${key}] = r.u8(${exp}) !== 0;`);
    } else if (step.count < 0) {
      save.push(`w.${WRITE_METHOD[step.type]}(s[${key}]);`);
      load.push(`t[${key}] = r.${READ_METHOD[step.type]}(${exp});`);
    } else {
      save.push(`{ const a = s[${key}]; if (!Array.isArray(a) || a.length < ${step.count}) throw new RangeError(${JSON.stringify(`${step.key}: expected an array of at least ${step.count} elements to save`)}); for (let i = 0; i < ${step.count}; i++) w.${WRITE_METHOD[step.type]}(a[i]); }`);
      load.push(`{ const a = new Array(${step.count}); for (let i = 0; i < ${step.count}; i++) a[i] = r.${READ_METHOD[step.type]}(${exp}); t[${key}] = a; }`);
    }
  });
  const expected = layout.steps.map((st) => st.expected);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from trusted descriptions, see above
  layout.save = new Function('w', 's', save.join('\n')) as FlatLayout['save'];
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const loadWith = new Function('E', 'r', 't', load.join('\n')) as (e: string[], r: ByteReader, t: VmState) => void;
  layout.load = (r, t) => loadWith(expected, r, t);
}

const flatLayouts = new WeakMap<Vmsd, FlatLayout | null>();

function flatLayout(vmsd: Vmsd): FlatLayout | undefined {
  let layout = flatLayouts.get(vmsd);
  if (layout === undefined) {
    layout = null;
    const simple = !vmsd.preLoad && !vmsd.postLoad && !(vmsd.subsections?.length) && (vmsd.minimumVersion ?? 0) <= vmsd.version;
    if (simple) {
      const steps: FlatLayout['steps'] = [];
      let bytes = 0;
      let ok = true;
      for (const f of vmsd.fields) {
        const t = f.type;
        const count = f.count === undefined ? 1 : typeof f.count === 'number' ? f.count : -1;
        if (f.exists || f.validate || f.mustExist || (f.version ?? 0) > vmsd.version || (f.path && f.path.length !== 1) || count < 0) { ok = false; break; }
        if (t.kind === 'int' && !t.equal && !t.le) {
          steps.push({ key: pathOf(f)[0]!, type: t.type, count: f.count === undefined ? -1 : count, size: intWidth(t.type), expected: infoOf(f).expected });
          bytes += intWidth(t.type) * count;
        } else if (t.kind === 'bool' && f.count === undefined) {
          steps.push({ key: pathOf(f)[0]!, type: 'bool', count: 0, size: 1, expected: infoOf(f).expected });
          bytes += 1;
        } else if (t.kind === 'unused' && typeof t.size === 'number' && f.count === undefined) {
          steps.push({ key: '', type: 'unused', count: 0, size: t.size, expected: infoOf(f).expected });
          bytes += t.size;
        } else { ok = false; break; }
      }
      if (ok) layout = { steps, minBytes: bytes };
    }
    flatLayouts.set(vmsd, layout);
  }
  return layout ?? undefined;
}

function loadFlat(r: ByteReader, layout: FlatLayout, target: VmState): void {
  if (!layout.load) compileFlat(layout);
  layout.load!(r, target);
}


/** The save side of loadFlat: the same bytes saveState writes for such a struct. */
function saveFlat(w: ByteWriter, layout: FlatLayout, source: VmState): void {
  if (!layout.save) compileFlat(layout);
  layout.save!(w, source);
}


/** Save into a fresh writer and return the bytes. */
export function encodeState(vmsd: Vmsd, state: VmState, ctx: VmstateContext = {}): Uint8Array {
  const w = new ByteWriter();
  saveState(w, vmsd, state, ctx);
  return w.finish();
}

/**
 * Load a whole buffer; trailing bytes are an error.
 * @throws TruncatedError, MalformedError (ERR_VMSTATE_TRAILING_BYTES)
 */
export function decodeState(bytes: Uint8Array, vmsd: Vmsd, version = vmsd.version, ctx: VmstateContext = {}, state: VmState = {}): VmState {
  const r = new ByteReader(bytes);
  loadState(r, vmsd, state, version, ctx);
  if (!r.atEnd) {
    throw new MalformedError('ERR_VMSTATE_TRAILING_BYTES', `${vmsd.name} ended at byte ${r.offset} but ${r.remaining} bytes follow`, {
      offset: r.offset,
      expected: `end of ${vmsd.name}`,
    });
  }
  return state;
}

export { intWidth, TruncatedError };

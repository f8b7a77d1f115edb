/**
 * The vocabulary of declarative device-state descriptions, after QEMU's
 * VMStateDescription (include/migration/vmstate.h; research/qemu-wire-format.md §2).
 *
 * A description is data: a name, a version window, an ordered list of fields,
 * subsections and hooks. One interpreter (interpreter.ts) saves and loads every
 * description, so the save side and the load side cannot drift apart.
 *
 * State is a plain object. A field's value lives at `path` (default: `[name]`)
 * inside the state object of the description being processed; nested structs
 * get nested objects, arrays get JS arrays.
 *
 * Value types: ints of ≤ 32 bits are `number`, 64-bit ints are `bigint`, bool is
 * `boolean`, buffers are `Uint8Array`, bitmaps are `Uint8Array` of bits (bit i is
 * bit i%8 of byte i/8).
 */

import type { ByteReader, ByteWriter } from '../core/index.js';

export type VmState = Record<string, unknown>;

/** Parameters a description's predicates and hooks may consult (device properties, the peer's capabilities, a lenient-decoding switch). */
export type VmstateContext = Record<string, unknown>;

export type IntType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

/** A byte or element count: a constant, or the value of an earlier field (times `multiply`). */
export type SizeSpec = number | { field: string[]; multiply?: number };

/**
 * How a custom field (QEMU's VMStateInfo with its own put/get) reads and writes.
 * It works on the whole state object of its description, which is what legacy
 * layouts such as `virtio_save` need.
 */
export interface CustomCodec {
  save(w: ByteWriter, state: VmState, ctx: VmstateContext): void;
  load(r: ByteReader, state: VmState, ctx: VmstateContext): void;
}

export type FieldType =
  | { kind: 'int'; type: IntType; /** QEMU `*_equal`: must equal the loader's current value */ equal?: boolean; /** QEMU `int32 le`: 0 ≤ v ≤ current */ le?: boolean }
  | { kind: 'bool' }
  | { kind: 'timer' }
  | { kind: 'buffer'; size: SizeSpec }
  | { kind: 'unused'; size: SizeSpec }
  | { kind: 'bitmap'; bits: SizeSpec }
  | { kind: 'struct'; vmsd: Vmsd; /** VMS_VSTRUCT: version used on both sides */ structVersion?: number }
  | { kind: 'tmp'; vmsd: Vmsd }
  | { kind: 'custom'; info: string; codec: CustomCodec }
  | { kind: 'validate'; check: (state: VmState, version: number, ctx: VmstateContext) => string | undefined };

export interface Field {
  /** QEMU's field name (what vmdesc prints). */
  name: string;
  /** Where the value lives in the state object; default `[name]`. */
  path?: string[];
  type: FieldType;
  /** Array: a constant element count or one read from an earlier field (VMS_VARRAY_*). */
  count?: SizeSpec;
  /** Present only when the stream version is ≥ this (QEMU's field version_id). */
  version?: number;
  /** Present only when this returns true (QEMU's field_exists); overrides `version`. */
  exists?: (state: VmState, version: number, ctx: VmstateContext) => boolean;
  /** VMS_MUST_EXIST: being gated out is an error. */
  mustExist?: boolean;
  /** Extra check on a loaded value; returns an error message or undefined. */
  validate?: (value: unknown, state: VmState, ctx: VmstateContext) => string | undefined;
}

export interface Vmsd {
  name: string;
  version: number;
  minimumVersion?: number;
  fields: Field[];
  /** Checked in array order on save; matched by name on load. */
  subsections?: Vmsd[];
  /** For subsections and top-level sections: include it only when this returns true. */
  needed?: (state: VmState, ctx: VmstateContext) => boolean;
  preSave?: (state: VmState, ctx: VmstateContext) => void;
  postSave?: (state: VmState, ctx: VmstateContext) => void;
  preLoad?: (state: VmState, ctx: VmstateContext) => void;
  postLoad?: (state: VmState, version: number, ctx: VmstateContext) => void;
  /** Sent in the setup phase, before RAM, instead of at stop-and-copy (QEMU 8.0+ `early_setup`). */
  earlySetup?: boolean;
  /** Higher priority sections are saved first (QEMU MigrationPriority). */
  priority?: number;
}

/** The JSON `type` QEMU prints for a field (its VMStateInfo name). */
export function vmdescTypeName(type: FieldType): string {
  switch (type.kind) {
    case 'int':
      if (type.le) return `${type.type} le`;
      if (type.equal) return type.type === 'uint64' ? 'int64 equal' : `${type.type} equal`;
      return type.type;
    case 'bool':
      return 'bool';
    case 'timer':
      return 'timer';
    case 'buffer':
      return 'buffer';
    case 'unused':
      return 'unused_buffer';
    case 'bitmap':
      return 'bitmap';
    case 'struct':
      return type.structVersion === undefined ? 'struct' : 'vstruct';
    case 'tmp':
      return 'tmp';
    case 'custom':
      return type.info;
    case 'validate':
      return 'validate';
  }
}

/** Bytes per element of a fixed-width field kind, or undefined when it varies. */
export function intWidth(type: IntType): 1 | 2 | 4 | 8 {
  switch (type) {
    case 'int8':
    case 'uint8':
      return 1;
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
    case 'uint32':
      return 4;
    default:
      return 8;
  }
}

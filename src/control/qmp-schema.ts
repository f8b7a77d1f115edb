/**
 * Argument schemas for QMP commands, in QAPI's spelling: members are
 * `{ name: type }` and a leading `*` marks an optional member, so a
 * declaration reads like qapi/*.json (`{ uri: 'str', '*detach': 'bool' }`).
 *
 * Arguments are checked before a handler runs, in the order QEMU's
 * qobject-input-visitor checks them (declared members in order, then leftover
 * keys), and errors carry its wording, because management software matches
 * on it:
 *   missing          Parameter 'uri' is missing
 *   wrong JSON type  Invalid parameter type for 'uri', expected: string
 *   out of range     Parameter 'x' expects uint8_t          (intN/uintN)
 *                    Parameter 'x' expects uint64           (uint64, size)
 *   bad enum value   Parameter 'x' does not accept value 'y'
 *   unknown key      Parameter 'x' is unexpected
 * Nested names are spelled `a.b` and `a[0]`, as QEMU's full_name() does; the
 * range and enum messages use the bare member name, or 'null' for a list
 * element, as QEMU's visit_type_* helpers do.
 */

import { badArgument } from './qmp-error.js';

type IntTypeName = 'int' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'size';

export type QmpArgType =
  | 'str'
  | 'bool'
  | 'number'
  | 'null'
  | 'any'
  | IntTypeName
  | { readonly enum: readonly string[] }
  | { readonly list: QmpArgType }
  | { readonly struct: QmpArgMembers };

/** Member name (with `*` when optional) → type. */
export type QmpArgMembers = Readonly<Record<string, QmpArgType>>;

const INT_RANGES: Record<IntTypeName, { min: number; max: number; cName: string }> = {
  int: { min: -(2 ** 63), max: 2 ** 63, cName: 'int64_t' },
  int64: { min: -(2 ** 63), max: 2 ** 63, cName: 'int64_t' },
  int8: { min: -128, max: 127, cName: 'int8_t' },
  int16: { min: -32768, max: 32767, cName: 'int16_t' },
  int32: { min: -(2 ** 31), max: 2 ** 31 - 1, cName: 'int32_t' },
  uint8: { min: 0, max: 255, cName: 'uint8_t' },
  uint16: { min: 0, max: 65535, cName: 'uint16_t' },
  uint32: { min: 0, max: 2 ** 32 - 1, cName: 'uint32_t' },
  // Doubles cannot hold 2^64-1; JSON.parse rounds it to 2^64, so that is the bound.
  uint64: { min: 0, max: 2 ** 64, cName: 'uint64' },
  size: { min: 0, max: 2 ** 64, cName: 'size' },
};

interface Where {
  /** Full name for messages that use it ('a.b', 'a[0]'). */
  full: string;
  /** What QEMU's visit_type_* helpers print: the member name or 'null'. */
  bare: string;
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function checkValue(type: QmpArgType, value: unknown, at: Where): void {
  if (typeof type === 'string') {
    switch (type) {
      case 'any':
        return;
      case 'str':
        if (typeof value !== 'string') throw badArgument(`Invalid parameter type for '${at.full}', expected: string`);
        return;
      case 'bool':
        if (typeof value !== 'boolean') throw badArgument(`Invalid parameter type for '${at.full}', expected: boolean`);
        return;
      case 'number':
        if (typeof value !== 'number') throw badArgument(`Invalid parameter type for '${at.full}', expected: number`);
        return;
      case 'null':
        if (value !== null) throw badArgument(`Invalid parameter type for '${at.full}', expected: null`);
        return;
      default: {
        const range = INT_RANGES[type];
        const unsigned64 = type === 'uint64' || type === 'size';
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          throw badArgument(unsigned64 ? `Parameter '${at.full}' expects ${range.cName}` : `Invalid parameter type for '${at.full}', expected: integer`);
        }
        if (value < range.min || value > range.max) {
          // int/int64 beyond 64 bits was a double to QEMU's parser, hence a type error.
          if (type === 'int' || type === 'int64') throw badArgument(`Invalid parameter type for '${at.full}', expected: integer`);
          throw badArgument(`Parameter '${unsigned64 ? at.full : at.bare}' expects ${range.cName}`);
        }
        return;
      }
    }
  }
  if ('enum' in type) {
    if (typeof value !== 'string') throw badArgument(`Invalid parameter type for '${at.full}', expected: string`);
    if (!type.enum.includes(value)) throw badArgument(`Parameter '${at.bare}' does not accept value '${value}'`);
    return;
  }
  if ('list' in type) {
    if (!Array.isArray(value)) throw badArgument(`Invalid parameter type for '${at.full}', expected: array`);
    value.forEach((item, i) => checkValue(type.list, item, { full: `${at.full}[${i}]`, bare: 'null' }));
    return;
  }
  if (jsonKind(value) !== 'object') throw badArgument(`Invalid parameter type for '${at.full}', expected: object`);
  checkMembers(type.struct, value as Record<string, unknown>, `${at.full}.`);
}

function checkMembers(members: QmpArgMembers, args: Record<string, unknown>, prefix: string): void {
  const known = new Set<string>();
  for (const [spelled, type] of Object.entries(members)) {
    const optional = spelled.startsWith('*');
    const name = optional ? spelled.slice(1) : spelled;
    known.add(name);
    const value = Object.hasOwn(args, name) ? args[name] : undefined;
    if (value === undefined) {
      if (!optional) throw badArgument(`Parameter '${prefix}${name}' is missing`);
      continue;
    }
    checkValue(type, value, { full: `${prefix}${name}`, bare: name });
  }
  for (const key of Object.keys(args)) {
    if (!known.has(key)) throw badArgument(`Parameter '${prefix}${key}' is unexpected`);
  }
}

/**
 * Check a command's `arguments` object against its members.
 * @throws QmpError (GenericError, ERR_QMP_BAD_ARGUMENT) with QEMU's wording
 */
export function validateArguments(members: QmpArgMembers, args: Record<string, unknown>): void {
  checkMembers(members, args, '');
}

/**
 * QEMU's option-string syntax (util/qemu-option.c), shared by every
 * command-line option: `first,key=value,key=value`.
 *
 *   - elements are separated by ','; ',,' stands for a literal comma (in values,
 *     including the first, implied one);
 *   - a first element without '=' is the value of the option's implied key
 *     (`-device virtio-net-pci,...` is `driver=virtio-net-pci`);
 *   - a later element without '=' is a bare flag (`server` means server=on);
 *   - the value is everything after the first '=' (`a=b=c` sets a to "b=c").
 * `-device` and `-netdev` also accept a JSON object, as QEMU ≥ 6.2 (and
 * libvirt) use them.
 *
 * Also here: QEMU's bool spellings, sizes with K/M/G/T suffixes
 * (qemu_strtosz), and the id rule (id_wellformed).
 */

/** One `key=value` element; `value` is undefined for a bare flag. */
export interface OptionPair {
  key: string;
  value: string | undefined;
}

/** A syntax problem; the caller names the option in the message. */
export class OptionSyntaxError extends Error {}

/** Read a value up to an unescaped ',' (QEMU's get_opt_value). Returns [value, next index]. */
function readValue(text: string, from: number): [string, number] {
  let out = '';
  let i = from;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ',') {
      if (text[i + 1] === ',') {
        out += ',';
        i += 2;
        continue;
      }
      break;
    }
    out += c;
    i++;
  }
  return [out, i];
}

/**
 * Split an option string into key/value pairs. Duplicate keys are an error
 * (QEMU would let the last win; a repeated key is nearly always a typo).
 * @throws OptionSyntaxError
 */
export function splitOptionString(text: string, impliedKey?: string): OptionPair[] {
  const pairs: OptionPair[] = [];
  let i = 0;
  let first = true;
  while (i < text.length || (first && text.length === 0)) {
    let end = i;
    while (end < text.length && text[end] !== '=' && text[end] !== ',') end++;
    const nameLen = end - i;
    if (first && impliedKey !== undefined && nameLen > 0 && text[end] !== '=') {
      const [value, next] = readValue(text, i);
      pairs.push({ key: impliedKey, value });
      i = next;
    } else {
      const key = text.slice(i, end);
      if (key.length === 0) throw new OptionSyntaxError(text.length === 0 ? 'empty option string' : `empty parameter name at offset ${i} in '${text}'`);
      if (text[end] === '=') {
        const [value, next] = readValue(text, end + 1);
        pairs.push({ key, value });
        i = next;
      } else {
        pairs.push({ key, value: undefined });
        i = end;
      }
    }
    first = false;
    if (i < text.length) {
      i++; // the separating comma
      if (i === text.length) throw new OptionSyntaxError(`trailing ',' in '${text}'`);
    }
  }
  const seen = new Set<string>();
  for (const p of pairs) {
    if (seen.has(p.key)) throw new OptionSyntaxError(`parameter '${p.key}' is given twice`);
    seen.add(p.key);
  }
  return pairs;
}

/**
 * The JSON form `{"driver": "virtio-net-pci", "mq": true, "vectors": 10}`:
 * booleans become on/off and numbers their decimal text, so both forms share
 * one typed path.
 * @throws OptionSyntaxError
 */
export function splitJsonOption(text: string): OptionPair[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OptionSyntaxError(`invalid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new OptionSyntaxError('the JSON form must be an object');
  return Object.entries(parsed as Record<string, unknown>).map(([key, v]) => {
    if (typeof v === 'boolean') return { key, value: v ? 'on' : 'off' };
    if (typeof v === 'number' || typeof v === 'string') return { key, value: String(v) };
    throw new OptionSyntaxError(`parameter '${key}' must be a string, number or boolean in the JSON form`);
  });
}

/** Escape a value for the option syntax (the inverse of readValue). */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** QEMU's bool spellings (qapi_bool_parse); a bare flag is on. Undefined when not a bool. */
export function parseOnOff(value: string | undefined): boolean | undefined {
  if (value === undefined) return true;
  switch (value) {
    case 'on':
    case 'yes':
    case 'true':
      return true;
    case 'off':
    case 'no':
    case 'false':
      return false;
    default:
      return undefined;
  }
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A size like QEMU's qemu_strtosz: decimal digits with an optional fraction
 * and a case-insensitive B/K/M/G/T suffix; without a suffix, `defaultUnit`
 * applies ('M' for -m, bytes elsewhere). Undefined when malformed, fractional
 * bytes or beyond 2^53.
 */
export function parseSize(text: string, defaultUnit: 'B' | 'K' | 'M' = 'B'): number | undefined {
  const m = /^(\d+)(?:\.(\d+))?([bBkKmMgGtT])?$/.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[3] ?? defaultUnit).toLowerCase()]!;
  const whole = Number(m[1]);
  const frac = m[2] === undefined ? 0 : Number(`0.${m[2]}`);
  const bytes = whole * unit + frac * unit;
  if (!Number.isSafeInteger(bytes)) return undefined;
  return bytes;
}

/** The shortest exact spelling of a byte count (1073741824 → "1G", 1536 → "1536"). */
export function formatSize(bytes: number): string {
  for (const [suffix, unit] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

/** A non-negative decimal integer (also 0x hex, as QEMU's parsers take it); undefined otherwise. */
export function parseUint(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) {
    const n = Number.parseInt(text.slice(2), 16);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
export function isWellFormedId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.-]*$/.test(id);
}

/**
 * Reading one command-line option's key=value pairs with typed getters. Every
 * error is one line that starts with the option ("-netdev tap: queues must be
 * 1..8, got '9'"), and keys nobody asked for are reported as unknown, with a
 * suggestion when one is a likely typo.
 */

import { VmigError } from '../core/index.js';
import { OptionSyntaxError, parseOnOff, parseUint, splitJsonOption, splitOptionString } from './qemu-option-syntax.js';
import type { OptionPair } from './qemu-option-syntax.js';

/** An error about one command-line option; `label` is how the option is named ("-device virtio-net-pci"). */
export function optionError(label: string, message: string, code = 'ERR_MACHINE_BAD_OPTION', details: Record<string, unknown> = {}): VmigError {
  return new VmigError(code, `${label}: ${message}`, { details: { option: label, ...details } });
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** " (did you mean 'mq'?)" when a candidate is within one edit per three letters, else "". */
export function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.floor(word.length / 3) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/** Split an option's text (or its JSON form when allowed), naming the option on a syntax error. */
export function splitOption(label: string, text: string, impliedKey?: string, allowJson = false): OptionPair[] {
  try {
    return allowJson && text.trimStart().startsWith('{') ? splitJsonOption(text) : splitOptionString(text, impliedKey);
  } catch (err) {
    if (err instanceof OptionSyntaxError) throw optionError(label, err.message);
    throw err;
  }
}

export class OptionBag {
  private readonly values = new Map<string, string | undefined>();

  constructor(
    readonly label: string,
    pairs: readonly OptionPair[],
  ) {
    for (const p of pairs) this.values.set(p.key, p.value);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** The raw value (undefined for a bare flag) and whether the key was present; consumes it. */
  take(key: string): { present: boolean; value: string | undefined } {
    const present = this.values.has(key);
    const value = this.values.get(key);
    this.values.delete(key);
    return { present, value };
  }

  string(key: string): string | undefined {
    const { present, value } = this.take(key);
    if (!present) return undefined;
    if (value === undefined || value.length === 0) throw optionError(this.label, `${key} needs a value`);
    return value;
  }

  requiredString(key: string, why = ''): string {
    const v = this.string(key);
    if (v === undefined) throw optionError(this.label, `${key}= is required${why}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const { present, value } = this.take(key);
    if (!present) return fallback;
    const b = parseOnOff(value);
    if (b === undefined) throw optionError(this.label, `${key} expects on/off (or yes/no, true/false), got '${value}'`);
    return b;
  }

  uint(key: string, min: number, max: number, fallback: number): number {
    const { present, value } = this.take(key);
    if (!present) return fallback;
    const n = value === undefined ? undefined : parseUint(value);
    if (n === undefined || n < min || n > max) throw optionError(this.label, `${key} must be ${min}..${max}, got '${value ?? ''}'`);
    return n;
  }

  /** Keys nobody consumed. */
  rest(): string[] {
    return [...this.values.keys()];
  }

  /** Fail on any key not consumed; `known` feeds the suggestion. */
  finish(known: readonly string[], noun = 'parameter', code = 'ERR_MACHINE_BAD_OPTION'): void {
    const [first] = this.rest();
    if (first !== undefined) throw optionError(this.label, `unknown ${noun} '${first}'${suggestion(first, known)}`, code);
  }
}

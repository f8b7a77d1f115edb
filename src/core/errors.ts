/**
 * Typed errors for every layer.
 *
 * Every error vmig raises on purpose is a `VmigError` with a stable `code`
 * (`ERR_<LAYER>_<CONDITION>`, never renamed once released), a message that says
 * what failed and what to do, optional `details` (the facts: offsets, versions,
 * indices) and the standard `cause`. Two subclasses matter to decoders of
 * untrusted input: `TruncatedError` ("need more bytes": a valid prefix that ended
 * early) and `MalformedError` ("bad bytes": no suffix can make it valid). An
 * incremental decoder waits on the first and gives up on the second.
 */

export interface VmigErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class VmigError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: VmigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Details every byte-level decoding error carries. */
export interface ByteErrorDetails extends Record<string, unknown> {
  /** Absolute byte offset (in the whole input) where the problem was found. */
  offset: number;
  /** What the decoder expected to find there, in words ("be32 section id"). */
  expected: string;
}

/** The input ended before a complete item: more bytes could make it valid. */
export class TruncatedError extends VmigError {
  declare readonly details: ByteErrorDetails & { needed: number };

  constructor(code: string, message: string, details: ByteErrorDetails & { needed: number }, cause?: unknown) {
    super(code, message, { details, cause });
  }

  get offset(): number {
    return this.details.offset;
  }
}

/** The input holds bytes that cannot be valid, whatever follows. */
export class MalformedError extends VmigError {
  declare readonly details: ByteErrorDetails;

  constructor(code: string, message: string, details: ByteErrorDetails, cause?: unknown) {
    super(code, message, { details, cause });
  }

  get offset(): number {
    return this.details.offset;
  }
}

/** True when `err` is a VmigError carrying `code`. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof VmigError && err.code === code;
}

/** One line for a human: the message and its chain of causes, no stack. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      if (!parts.some((p) => p.includes(current instanceof Error ? current.message : ''))) parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(': ');
}

/**
 * Splits a QMP input byte stream into top-level JSON texts (research §5.1:
 * "a stream of JSON objects; no delimiter required"). Like QEMU's
 * json-streamer it only tracks strings and bracket depth, so a value may
 * arrive one byte at a time, several may share a chunk, and whitespace
 * between them is optional. Parsing the text is left to JSON.parse.
 *
 *   bytes ─► [between values] ─'{'/'['─► [in container] ─balanced─► emit text
 *                  │                        │ '"' or "'"
 *                  │                        ▼
 *                  └─ other ─► [bare token] [in string] ─ '\' ─► [escape]
 *
 * Bounds, checked without buffering more than the limit: a value larger than
 * `maxBytes` or nested deeper than `maxDepth` yields one error, then its
 * remaining bytes are skipped while depth is still tracked, so the stream
 * resynchronises on the next value. A 0xFE/0xFF byte (never valid UTF-8) drops
 * any partial value: QEMU documents it as the way to reset its parser.
 *
 * QEMU's extensions are accepted: single-quoted strings and `\'` escapes are
 * rewritten to standard JSON before the text is handed out.
 */

/** A complete top-level JSON text, or an error standing in for one. */
export type JsonFrame = { kind: 'text'; text: string } | { kind: 'error'; desc: string };

export const QMP_MAX_MESSAGE_BYTES = 1024 * 1024;
export const QMP_MAX_NESTING = 1024;

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Bytes that end a bare top-level token (number, keyword, garbage). */
function endsBareToken(b: number): boolean {
  return isWhitespace(b) || b === LBRACE || b === RBRACE || b === LBRACKET || b === RBRACKET || b === 0x2c || b === 0x3a || b === DQUOTE || b === SQUOTE;
}

export interface JsonStreamSplitterOptions {
  maxBytes?: number;
  maxDepth?: number;
}

export class JsonStreamSplitter {
  private readonly maxBytes: number;
  private readonly maxDepth: number;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  /** Bytes of the value in progress from earlier chunks. */
  private pieces: Uint8Array[] = [];
  private size = 0;
  /** Open brackets of the value in progress (the byte that opened each). */
  private stack: number[] = [];
  private inValue = false;
  private bare = false;
  private quote = 0;
  private escape = false;
  private needsRewrite = false;
  /** Skipping an over-limit value: only its depth is tracked. */
  private discarding = false;
  private discardDepth = 0;

  constructor(options: JsonStreamSplitterOptions = {}) {
    this.maxBytes = options.maxBytes ?? QMP_MAX_MESSAGE_BYTES;
    this.maxDepth = options.maxDepth ?? QMP_MAX_NESTING;
  }

  /** Bytes held for an unfinished value. */
  get pending(): number {
    return this.size;
  }

  push(chunk: Uint8Array): JsonFrame[] {
    const out: JsonFrame[] = [];
    let start = 0; // where the current value's bytes begin in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0xfe || b === 0xff) {
        this.reset();
        start = i + 1;
        continue;
      }
      if (this.discarding) {
        if (this.bare) {
          if (endsBareToken(b)) {
            this.reset();
            i--; // the terminator starts whatever follows
          }
          continue;
        }
        this.skipByte(b);
        continue;
      }
      if (!this.inValue) {
        if (isWhitespace(b)) continue;
        this.inValue = true;
        start = i;
        if (b === LBRACE || b === LBRACKET) {
          this.stack.push(b);
          continue;
        }
        if (b === DQUOTE || b === SQUOTE) {
          this.openString(b);
          continue;
        }
        if (b === RBRACE || b === RBRACKET || b === 0x2c || b === 0x3a) {
          out.push(this.finish(chunk, start, i + 1)); // a stray structural byte: JSON.parse will name it
          continue;
        }
        this.bare = true;
        continue;
      }
      if (this.bare) {
        if (endsBareToken(b)) {
          out.push(this.finish(chunk, start, i));
          i--; // the terminator belongs to what follows
        }
        continue;
      }
      if (this.quote !== 0) {
        if (this.escape) {
          this.escape = false;
          if (b === SQUOTE) this.needsRewrite = true;
        } else if (b === BACKSLASH) {
          this.escape = true;
        } else if (b === this.quote) {
          this.quote = 0;
          if (this.stack.length === 0) out.push(this.finish(chunk, start, i + 1));
        }
        continue;
      }
      if (b === DQUOTE || b === SQUOTE) {
        this.openString(b);
      } else if (b === LBRACE || b === LBRACKET) {
        if (this.stack.length >= this.maxDepth) {
          out.push({ kind: 'error', desc: 'JSON nesting depth limit exceeded' });
          this.startDiscarding(this.stack.length + 1);
          continue;
        }
        this.stack.push(b);
      } else if (b === RBRACE || b === RBRACKET) {
        const open = this.stack.pop();
        const matches = (open === LBRACE && b === RBRACE) || (open === LBRACKET && b === RBRACKET);
        if (!matches || this.stack.length === 0) out.push(this.finish(chunk, start, i + 1)); // a mismatch ends the value: JSON.parse reports it
      }
    }
    if (this.inValue && !this.discarding) {
      const tail = chunk.subarray(start);
      if (this.size + tail.length > this.maxBytes) {
        out.push(this.oversize());
        this.startDiscarding(this.stack.length);
      } else if (tail.length > 0) {
        this.pieces.push(tail.slice());
        this.size += tail.length;
      }
    }
    return out;
  }

  /** Forget everything buffered (the peer went away or asked for a reset). */
  reset(): void {
    this.pieces = [];
    this.size = 0;
    this.stack = [];
    this.inValue = false;
    this.bare = false;
    this.quote = 0;
    this.escape = false;
    this.needsRewrite = false;
    this.discarding = false;
    this.discardDepth = 0;
  }

  private openString(q: number): void {
    this.quote = q;
    if (q === SQUOTE) this.needsRewrite = true;
  }

  private oversize(): JsonFrame {
    return { kind: 'error', desc: `JSON parse error, message larger than ${this.maxBytes} bytes` };
  }

  /** Skip the rest of the current value; `depth` brackets are open. */
  private startDiscarding(depth: number): void {
    const inString = this.quote !== 0;
    const wasBare = this.bare;
    const escape = this.escape;
    const quote = this.quote;
    this.reset();
    if (depth === 0 && !inString && !wasBare) return;
    this.discarding = true;
    this.discardDepth = depth;
    this.bare = wasBare;
    this.quote = quote;
    this.escape = escape;
  }

  private skipByte(b: number): void {
    if (this.quote !== 0) {
      if (this.escape) this.escape = false;
      else if (b === BACKSLASH) this.escape = true;
      else if (b === this.quote) {
        this.quote = 0;
        if (this.discardDepth === 0) this.reset();
      }
      return;
    }
    if (b === DQUOTE || b === SQUOTE) this.quote = b;
    else if (b === LBRACE || b === LBRACKET) this.discardDepth++;
    else if (b === RBRACE || b === RBRACKET) {
      this.discardDepth--;
      if (this.discardDepth <= 0) this.reset();
    }
  }

  private finish(chunk: Uint8Array, start: number, end: number): JsonFrame {
    const last = chunk.subarray(start, end);
    let bytes: Uint8Array;
    if (this.pieces.length === 0) {
      bytes = last;
    } else {
      bytes = new Uint8Array(this.size + last.length);
      let at = 0;
      for (const p of this.pieces) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.set(last, at);
    }
    const rewrite = this.needsRewrite;
    const tooBig = bytes.length > this.maxBytes;
    this.reset();
    if (tooBig) return this.oversize();
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      return { kind: 'error', desc: 'JSON parse error, invalid UTF-8 sequence' };
    }
    return { kind: 'text', text: rewrite ? toStandardJson(text) : text };
  }
}

/**
 * Rewrite QEMU's JSON extensions to standard JSON: 'single-quoted' strings
 * become "double-quoted" (escaping any bare `"` inside), and `\'` becomes `'`.
 */
export function toStandardJson(text: string): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === '') {
      if (c === "'" || c === '"') {
        quote = c;
        out += '"';
      } else {
        out += c;
      }
      continue;
    }
    if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) {
        out += c;
      } else {
        out += next === "'" ? "'" : c + next;
        i++;
      }
    } else if (c === quote) {
      quote = '';
      out += '"';
    } else if (c === '"') {
      out += '\\"'; // only reachable inside a single-quoted string
    } else {
      out += c;
    }
  }
  return out;
}

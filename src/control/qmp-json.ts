/**
 * QMP output encoding (research §5.1): one JSON object per line, CRLF, ASCII
 * only, in QEMU's spacing (`{"return": {}, "id": 1}`), so transcripts diff
 * cleanly against QEMU's. A `bigint` is written as an exact integer literal:
 * 64-bit counters and feature words reach clients without rounding.
 */

function quote(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters; QEMU also
  // escapes everything outside ASCII, which keeps the stream 7-bit clean.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Encode a value in QEMU's compact style. Members whose value is undefined are left out. */
export function formatQmpJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => formatQmpJson(v)).join(', ')}]`;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== undefined) parts.push(`${quote(k)}: ${formatQmpJson(v)}`);
      }
      return `{${parts.join(', ')}}`;
    }
    default:
      return 'null';
  }
}

/** One server → client message, terminated as QEMU terminates it. */
export function formatQmpLine(message: Record<string, unknown>): string {
  return `${formatQmpJson(message)}\r\n`;
}

export interface QmpTimestamp {
  seconds: number;
  microseconds: number;
}

/** Wall-clock time split the way QMP events carry it. */
export function qmpTimestamp(epochMicros: number = Math.round((performance.timeOrigin + performance.now()) * 1000)): QmpTimestamp {
  return { seconds: Math.floor(epochMicros / 1e6), microseconds: epochMicros % 1e6 };
}

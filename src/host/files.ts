/**
 * Reading input files for the CLI: whole-file reads, gzip detected by its
 * magic bytes (1f 8b) and inflated, so `vmig analyze stream.bin.gz` works.
 */

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { VmigError } from '../core/index.js';

/**
 * Read a file, inflating it when it is gzip-compressed.
 * @throws VmigError ERR_HOST_FILE_UNREADABLE, ERR_HOST_BAD_GZIP
 */
export function readInputFile(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new VmigError('ERR_HOST_FILE_UNREADABLE', `Cannot read ${path}: ${code}`, { cause: err, details: { path, errno: code } });
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      const out = gunzipSync(raw);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      throw new VmigError('ERR_HOST_BAD_GZIP', `Cannot inflate ${path}: the gzip data is corrupt or truncated (${(err as Error).message})`, { cause: err, details: { path } });
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** A text sink appending to a file (the guest console of `-serial file:PATH`). */
export interface TextSink {
  write(text: string): void;
  close(): void;
}

/**
 * Open (create or truncate) `path` for the console.
 * @throws VmigError ERR_HOST_FILE_UNREADABLE when it cannot be opened
 */
export function openConsoleFile(path: string): TextSink {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new VmigError('ERR_HOST_FILE_UNREADABLE', `Cannot open ${path} for the serial console: ${code}`, { cause: err, details: { path, errno: code } });
  }
  return {
    write: (text) => void writeSync(fd, text),
    close: () => closeSync(fd),
  };
}

/** The process's stderr as a console sink. */
export const stderrSink: TextSink = { write: (text) => void process.stderr.write(text), close: () => undefined };

/** A fresh private directory under the system's temp dir (sockets, consoles). */
export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Remove a directory tree made by makeTempDir (missing is fine). */
export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Whole-file text read; undefined when it does not exist. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The one loader of the native addon (native/vmig_native.cc, built by
 * `npm install` into build/Release/vmig_native.node).
 *
 * The addon is found from the package root, not from this file's location, so
 * the same code works compiled (dist/src/host/native.js) or run from anywhere
 * else inside the package. It is loaded on first use, so importing src/host
 * costs nothing for code paths that never touch the OS.
 *
 * Errors the addon throws (plain Errors with a `code` ERR_HOST_*) are rethrown
 * as VmigError with the same code, the syscall facts in `details`, and the
 * original as `cause`, so callers only ever deal with VmigError.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { VmigError } from '../core/index.js';

/** The addon's functions. Keep in step with kExports in native/vmig_native.cc. */
export interface NativeAddon {
  /** memfd_create(name, MFD_CLOEXEC) + ftruncate, sealed against shrink/grow. Returns the fd. */
  memfdCreate(name: string, byteLength: number): number;
  /** mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of `fd` from offset 0; unmapped when the buffer is collected. */
  mapShared(fd: number, byteLength: number): SharedArrayBuffer;
  closeFd(fd: number): void;
  pageSize(): number;
}

const NATIVE_EXPORTS = ['memfdCreate', 'mapShared', 'closeFd', 'pageSize'] as const satisfies readonly (keyof NativeAddon)[];

const PACKAGE_NAME = 'vmig';
const ADDON_PATH = join('build', 'Release', 'vmig_native.node');

/** The addon attaches these to syscall failures; they become VmigError details. */
const NATIVE_DETAIL_KEYS = ['syscall', 'errno', 'errnoName'] as const;

let loaded: NativeAddon | undefined;

/** The addon, loaded on first call. Throws ERR_HOST_NATIVE_MISSING / _LOAD_FAILED / _STALE. */
export function native(): NativeAddon {
  loaded ??= load();
  return loaded;
}

/**
 * The nearest directory at or above `start` holding the package.json of vmig
 * (by name, so a nested package.json, e.g. one in node_modules, is skipped).
 */
export function findPackageRoot(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

function readPackageName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined; // unreadable or not JSON: not ours, keep walking
  }
}

function load(): NativeAddon {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findPackageRoot(here);
  if (root === undefined) {
    throw new VmigError(
      'ERR_HOST_NATIVE_MISSING',
      `cannot find the vmig package root above ${here}, so not the native addon either; run vmig from its package`,
      { details: { searchedFrom: here } },
    );
  }
  const path = join(root, ADDON_PATH);
  if (!existsSync(path)) {
    throw new VmigError(
      'ERR_HOST_NATIVE_MISSING',
      `the native addon ${path} is not built; run \`npm install\` in ${root} (needs python3, make and g++)`,
      { details: { path } },
    );
  }

  let raw: unknown;
  try {
    raw = createRequire(import.meta.url)(path);
  } catch (cause) {
    throw new VmigError(
      'ERR_HOST_NATIVE_LOAD_FAILED',
      `cannot load the native addon ${path} (built for another Node version?); run \`npm rebuild\` in ${root}`,
      { cause, details: { path } },
    );
  }

  const missing = NATIVE_EXPORTS.filter((name) => typeof (raw as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) {
    throw new VmigError(
      'ERR_HOST_NATIVE_STALE',
      `the native addon ${path} lacks ${missing.join(', ')}: it was built from older sources; run \`npm rebuild\` in ${root}`,
      { details: { path, missing } },
    );
  }
  return wrapAddon(raw as NativeAddon);
}

function wrapAddon(raw: NativeAddon): NativeAddon {
  const wrapped: Partial<Record<keyof NativeAddon, unknown>> = {};
  for (const name of NATIVE_EXPORTS) {
    const fn = raw[name] as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]): unknown => {
      try {
        return fn(...args);
      } catch (err) {
        throw toVmigError(err);
      }
    };
  }
  return wrapped as NativeAddon;
}

function toVmigError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const fields = err as Error & Record<string, unknown>;
  const code = fields['code'];
  if (typeof code !== 'string' || !code.startsWith('ERR_HOST_')) return err;
  const details: Record<string, unknown> = {};
  for (const key of NATIVE_DETAIL_KEYS) {
    if (fields[key] !== undefined) details[key] = fields[key];
  }
  return new VmigError(code, err.message, { cause: err, details });
}

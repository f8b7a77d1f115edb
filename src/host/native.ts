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

/** What `tapOpen` returns: the device's actual name and one fd per queue. */
export interface NativeTapOpenResult {
  ifname: string;
  fds: number[];
}

/** What `recvWithFds` returns for one received chunk. */
export interface NativeReceived {
  /** The bytes read (a fresh copy); empty when the peer has closed. */
  bytes: Uint8Array;
  /** Received fds (O_CLOEXEC); the caller owns them. */
  fds: number[];
  /** MSG_CTRUNC: the peer attached more fds than maxFds and the kernel dropped the rest. */
  fdsTruncated: boolean;
}

/** An opaque poll handle from `pollStart`. */
export type NativePollHandle = object & { readonly __brand?: 'NativePollHandle' };

/**
 * `(events, error)`: the ready UV_* events, or (events 0) an
 * ERR_HOST_SYSCALL_FAILED Error from libuv, which has then stopped polling.
 * `this` is the handle.
 */
export type NativePollCallback = (events: number, error: Error | undefined) => void;

/**
 * The addon's functions. Keep in step with kExports in native/vmig_native.cc.
 * Calls on non-blocking fds return -1 (recvWithFds: null) for EAGAIN rather
 * than throwing; every other failure throws.
 */
export interface NativeAddon {
  /** memfd_create(name, MFD_CLOEXEC) + ftruncate, sealed against shrink/grow. Returns the fd. */
  memfdCreate(name: string, byteLength: number): number;
  /** mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of `fd` from offset 0; unmapped when the buffer is collected. */
  mapShared(fd: number, byteLength: number): SharedArrayBuffer;
  closeFd(fd: number): void;
  /** fcntl(F_DUPFD_CLOEXEC): another fd for the same open file. */
  dupFd(fd: number): number;
  setThreadSlice(sliceUs: number): number;
  /** sched_getscheduler(tid) for a thread of this process; -1 when it is not one (or has exited). */
  threadPolicy(tid: number): number;
  /**
   * sched_setscheduler(tid, policy) among SCHED_OTHER, SCHED_BATCH and
   * SCHED_IDLE, for a thread of this process; a thread under a realtime
   * policy is left as it is. Returns the policy it had; -1 when it is not a
   * thread of this process (or has exited).
   */
  setThreadPolicy(tid: number, policy: number): number;
  pageSize(): number;

  /** memmove of `length` bytes between two views (shared or not), bounds-checked against both. */
  copyBytes(dst: ArrayBufferView, dstOffset: number, src: ArrayBufferView, srcOffset: number, length: number): void;
  /** Move every word of `shared` into `out` (same length; atomic exchange with 0 where non-zero); returns the bits moved. */
  harvestBits(shared: Uint32Array, out: Uint32Array): number;
  /** Indices of the bits set in a | b, ascending, into `out` as far as it holds them; returns how many are set. */
  bitIndices(a: Uint32Array, b: Uint32Array | null, out: Uint32Array): number;
  /** read(2) into bytes [offset, offset+length) of `buffer` (any ArrayBufferView, shared or not). */
  fdRead(fd: number, buffer: ArrayBufferView, offset: number, length: number): number;
  /** write(2) from bytes [offset, offset+length) of `buffer`. */
  fdWrite(fd: number, buffer: ArrayBufferView, offset: number, length: number): number;
  /** readv(2); `table` holds `count` triples (index into `views`, byte offset, byte length). */
  fdReadv(fd: number, views: readonly ArrayBufferView[], table: Uint32Array, count: number): number;
  /** writev(2); same table as fdReadv. */
  fdWritev(fd: number, views: readonly ArrayBufferView[], table: Uint32Array, count: number): number;
  /** Sets or clears O_NONBLOCK (on the open file description, shared with every dup). */
  fdSetNonBlocking(fd: number, nonBlocking: boolean): void;

  /** Opens /dev/net/tun `queues` times: IFF_TAP|IFF_NO_PI|IFF_MULTI_QUEUE (+IFF_VNET_HDR), O_NONBLOCK|O_CLOEXEC. */
  tapOpen(ifname: string, queues: number, vnetHdr: boolean): NativeTapOpenResult;
  /** TUNGETIFF: the device name and its IFF_* flags. */
  tapGetIff(fd: number): { ifname: string; flags: number };
  /** TUNSETOFFLOAD with TUN_F_* bits. */
  tapSetOffload(fd: number, flags: number): void;
  /** TUNSETVNETHDRSZ. */
  tapSetVnetHdrSize(fd: number, size: number): void;
  /** TUNGETVNETHDRSZ. */
  tapGetVnetHdrSize(fd: number): number;
  /** TUNSETQUEUE with IFF_ATTACH_QUEUE (true) or IFF_DETACH_QUEUE (false). */
  tapSetQueueEnabled(fd: number, enabled: boolean): void;

  /** eventfd(initval, flags); flags from EFD_CLOEXEC|EFD_NONBLOCK|EFD_SEMAPHORE. */
  eventfdCreate(initval: number, flags: number): number;
  /** The counter, or -1 when it is 0 (EAGAIN). */
  eventfdRead(fd: number): bigint | -1;
  /** Adds `value` (at most 2^64-2); false when the counter would overflow (EAGAIN). */
  eventfdWrite(fd: number, value: bigint): boolean;

  /** socketpair(AF_UNIX, SOCK_STREAM), both ends O_NONBLOCK|O_CLOEXEC. */
  unixSocketPair(): [number, number];
  /** A connected AF_UNIX stream socket (O_NONBLOCK|O_CLOEXEC). */
  unixConnect(path: string): number;
  /** A listening AF_UNIX stream socket bound to `path` (O_NONBLOCK|O_CLOEXEC). */
  unixListen(path: string, backlog: number): number;
  /** accept4(O_NONBLOCK|O_CLOEXEC), or -1 when no connection is pending. */
  unixAccept(fd: number): number;
  /** sendmsg with the fds as SCM_RIGHTS (MSG_NOSIGNAL); bytes sent, or -1 (EAGAIN). */
  sendWithFds(fd: number, data: ArrayBufferView, fds: readonly number[]): number;
  /** recvmsg with MSG_CMSG_CLOEXEC; null when nothing is pending (EAGAIN). */
  recvWithFds(fd: number, maxBytes: number, maxFds: number): NativeReceived | null;

  /** Watches `fd` on this thread's libuv loop; UV_* events. */
  pollStart(fd: number, events: number, callback: NativePollCallback): NativePollHandle;
  /** New event mask (0 pauses). Throws ERR_HOST_POLLER_STOPPED after pollStop. */
  pollUpdate(handle: NativePollHandle, events: number): void;
  /** uv_ref / uv_unref. */
  pollSetRef(handle: NativePollHandle, ref: boolean): void;
  /** Stops and closes; idempotent; no callback runs afterwards. */
  pollStop(handle: NativePollHandle): void;

  /** Constants from the headers the addon was built with (for tests). */
  hostConstants(): Record<string, number>;
}

const NATIVE_EXPORTS = [
  'memfdCreate',
  'mapShared',
  'closeFd',
  'dupFd',
  'setThreadSlice',
  'threadPolicy',
  'setThreadPolicy',
  'pageSize',
  'copyBytes',
  'harvestBits',
  'bitIndices',
  'fdRead',
  'fdWrite',
  'fdReadv',
  'fdWritev',
  'fdSetNonBlocking',
  'tapOpen',
  'tapGetIff',
  'tapSetOffload',
  'tapSetVnetHdrSize',
  'tapGetVnetHdrSize',
  'tapSetQueueEnabled',
  'eventfdCreate',
  'eventfdRead',
  'eventfdWrite',
  'unixSocketPair',
  'unixConnect',
  'unixListen',
  'unixAccept',
  'sendWithFds',
  'recvWithFds',
  'pollStart',
  'pollUpdate',
  'pollSetRef',
  'pollStop',
  'hostConstants',
] as const satisfies readonly (keyof NativeAddon)[];

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

/**
 * Each function rethrows the addon's errors as VmigError. The wrappers take a
 * fixed number of parameters rather than `...args`, so a call on the frame
 * path (fdRead, fdWritev, ...) allocates no arguments array. No addon
 * function takes more than five (keep it so, or widen these), and trailing
 * undefineds are the same to N-API as omitted arguments.
 */
function wrapAddon(raw: NativeAddon): NativeAddon {
  const wrapped: Partial<Record<keyof NativeAddon, unknown>> = {};
  for (const name of NATIVE_EXPORTS) {
    const fn = raw[name] as (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => unknown;
    wrapped[name] = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown): unknown => {
      try {
        return fn(a, b, c, d, e);
      } catch (err) {
        throw toVmigError(err);
      }
    };
  }
  return wrapped as NativeAddon;
}

/**
 * An error from the addon as a VmigError (same code, syscall facts in
 * `details`, the original as `cause`); anything else unchanged. For errors the
 * addon hands over instead of throwing (the poller's callback).
 */
export function fromNativeError(err: unknown): unknown {
  return toVmigError(err);
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

import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, readlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

import { VmigError } from '../core/index.js';
import { MEMFD_REGION_MAX_BYTES, MemfdRegion, hostPageSize } from './index.js';
import { findPackageRoot, native } from './native.js';

let serial = 0;
/** Unique per test so /proc lookups cannot match another region. */
function uniqueName(label: string): string {
  return `vmig-test-${process.pid}-${label}-${serial++}`;
}

function withRegion(byteLength: number, label: string, body: (region: MemfdRegion) => void | Promise<void>) {
  return async () => {
    const region = MemfdRegion.create(uniqueName(label), byteLength);
    try {
      await body(region);
    } finally {
      region.close();
    }
  };
}

/** Asserts `fn` throws a VmigError with `code` (and returns it for more checks). */
function throwsCode(fn: () => unknown, code: string): VmigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VmigError, `expected a VmigError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Runs `code` (CommonJS) in a worker with `workerData`; resolves with its first message. */
function runWorker(code: string, workerData: unknown): { worker: Worker; reply: Promise<unknown> } {
  const worker = new Worker(code, { eval: true, workerData });
  const reply = new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (exitCode) => reject(new Error(`worker exited (${exitCode}) without replying`)));
  });
  return { worker, reply };
}

describe('MemfdRegion', () => {
  const page = hostPageSize();

  it('reports the host page size', () => {
    assert.ok(page >= 4096 && (page & (page - 1)) === 0, `page size ${page}`);
  });

  it(
    'is a zero-filled SharedArrayBuffer over a memfd of the requested size',
    withRegion(4 * page, 'basic', (region) => {
      assert.ok(region.buffer instanceof SharedArrayBuffer);
      assert.equal(region.byteLength, 4 * page);
      assert.equal(region.buffer.byteLength, 4 * page);
      assert.equal(fstatSync(region.fd).size, 4 * page);
      assert.ok(new Uint8Array(region.buffer).every((b) => b === 0));
      assert.match(readlinkSync(`/proc/self/fd/${region.fd}`), new RegExp(`^/memfd:${region.name} `));
    }),
  );

  it(
    'shares bytes with the fd both ways',
    withRegion(4 * page, 'fd-io', (region) => {
      const view = new Uint8Array(region.buffer);
      // Open the memfd through /proc like another process would: same pages, own file offset.
      const other = openSync(`/proc/self/fd/${region.fd}`, 'r+');
      try {
        const offset = 2 * page + 123;
        view.set([0xde, 0xad, 0xbe, 0xef], offset);
        const read = Buffer.alloc(4);
        assert.equal(readSync(other, read, 0, 4, offset), 4);
        assert.deepEqual([...read], [0xde, 0xad, 0xbe, 0xef]);

        const last = region.byteLength - 3;
        assert.equal(writeSync(other, Buffer.from([1, 2, 3]), 0, 3, last), 3);
        assert.deepEqual([...view.subarray(last)], [1, 2, 3]);
      } finally {
        closeSync(other);
      }
    }),
  );

  it(
    'cannot be truncated through the fd (sealed, so no mapping can take SIGBUS)',
    withRegion(page, 'sealed', (region) => {
      assert.throws(() => ftruncateSync(region.fd, 0), { code: 'EPERM' });
      assert.throws(() => ftruncateSync(region.fd, 2 * page), { code: 'EPERM' });
      assert.equal(fstatSync(region.fd).size, page);
    }),
  );

  it(
    'is shared, not copied, when posted to a worker',
    { timeout: 20_000 },
    withRegion(2 * page, 'post', async (region) => {
      const { worker, reply } = runWorker(
        `const { parentPort } = require('node:worker_threads');
         const page = ${page};
         parentPort.once('message', (buffer) => {
           const view = new Uint8Array(buffer);
           const seen = view[10];
           view[page + 7] = 0x5a;
           parentPort.postMessage({ shared: buffer instanceof SharedArrayBuffer, length: buffer.byteLength, seen });
         });`,
        undefined,
      );
      try {
        new Uint8Array(region.buffer)[10] = 0x11;
        worker.postMessage(region.buffer);
        assert.deepEqual(await reply, { shared: true, length: 2 * page, seen: 0x11 });
        assert.equal(new Uint8Array(region.buffer)[page + 7], 0x5a);
        const read = Buffer.alloc(1);
        readSync(region.fd, read, 0, 1, page + 7);
        assert.equal(read[0], 0x5a, 'the worker wrote the memfd pages themselves');
      } finally {
        await worker.terminate();
      }
    }),
  );

  it(
    'supports Atomics.wait/notify between the main thread and a worker',
    { timeout: 20_000 },
    withRegion(page, 'atomics', async (region) => {
      // Words: 0 worker->main doorbell, 1 main->worker doorbell, 2 data-ready flag, 3 never written (sleep).
      const words = new Int32Array(region.buffer, 0, 4);
      const bytes = new Uint8Array(region.buffer);
      const { worker, reply } = runWorker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const words = new Int32Array(workerData.buffer, 0, 4);
         const bytes = new Uint8Array(workerData.buffer);
         for (let i = 0; i < 64; i++) bytes[256 + i] = i ^ 0xa5;
         Atomics.store(words, 2, 1);
         // Ring until a waiter is actually woken: proves main's wait sees our notify.
         const deadline = Date.now() + 10000;
         while (Atomics.notify(words, 0, 1) === 0 && Date.now() < deadline) Atomics.wait(words, 3, 0, 1);
         const woken = Atomics.wait(words, 1, 0, 10000);
         parentPort.postMessage({ woken, seen: bytes[512] });`,
        { buffer: region.buffer },
      );
      try {
        await new Promise((resolve) => worker.once('online', resolve));
        bytes[512] = 0x77; // written before main notifies: the worker must see it
        assert.equal(Atomics.wait(words, 0, 0, 10_000), 'ok');
        assert.equal(Atomics.load(words, 2), 1);
        for (let i = 0; i < 64; i++) assert.equal(bytes[256 + i], i ^ 0xa5);

        const deadline = Date.now() + 10_000;
        let woke = 0;
        while ((woke = Atomics.notify(words, 1, 1)) === 0 && Date.now() < deadline) await delay(1);
        assert.equal(woke, 1, 'the worker was waiting on the shared word');
        assert.deepEqual(await reply, { woken: 'ok', seen: 0x77 });
      } finally {
        await worker.terminate();
      }
    }),
  );

  it('refuses bad sizes and names with typed errors', () => {
    for (const size of [0, -page, page + 1, page / 2, 1.5 * page, MEMFD_REGION_MAX_BYTES + page, NaN, Infinity]) {
      const err = throwsCode(() => MemfdRegion.create('bad', size), 'ERR_HOST_BAD_REGION_SIZE');
      assert.match(err.message, /multiple of the page size/);
    }
    throwsCode(() => MemfdRegion.create('bad', '4096' as unknown as number), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(() => MemfdRegion.create(42 as unknown as string, page), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(() => MemfdRegion.create('a\0b', page), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(() => MemfdRegion.create('x'.repeat(250), page), 'ERR_HOST_OUT_OF_RANGE');
  });

  it(
    'closes its fd on close(), and refuses further use',
    withRegion(page, 'close', (region) => {
      const fd = region.fd;
      const name = region.name;
      region.close();
      region.close(); // idempotent
      assert.equal(region.closed, true);
      // The number may be reused by a later open, but never for our memfd.
      let target: string | undefined;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
      }
      assert.ok(target === undefined || !target.includes(name), `fd ${fd} still refers to ${target}`);
      throwsCode(() => region.fd, 'ERR_HOST_REGION_CLOSED');
      throwsCode(() => region.buffer, 'ERR_HOST_REGION_CLOSED');
    }),
  );

  it('is unmapped once closed and its buffer collected', { timeout: 20_000 }, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const isMapped = (name: string) => readFileSync('/proc/self/maps', 'utf8').includes(`/memfd:${name} `);

    // Created in a function so no reference to the buffer survives in this frame.
    const name = ((): string => {
      const region = MemfdRegion.create(uniqueName('unmap'), 16 * page);
      new Uint8Array(region.buffer).fill(1);
      assert.ok(isMapped(region.name));
      region.close();
      return region.name;
    })();

    for (let round = 0; round < 100 && isMapped(name); round++) {
      gc();
      await delay(10);
    }
    assert.equal(isMapped(name), false, 'the backing store deleter should munmap');
  });
});

describe('native addon', () => {
  const page = native().pageSize();

  it('is found from the package root, skipping other packages', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const root = findPackageRoot(here);
    assert.ok(root !== undefined && existsSync(join(root, 'binding.gyp')), `root ${root}`);
    assert.equal(findPackageRoot(join(root, 'node_modules', 'typescript', 'lib')), root);
    assert.equal(findPackageRoot('/'), undefined);
  });

  it('refuses to map past the end of the fd', () => {
    const fd = native().memfdCreate(uniqueName('short'), page);
    try {
      throwsCode(() => native().mapShared(fd, 2 * page), 'ERR_HOST_FD_TOO_SMALL');
    } finally {
      native().closeFd(fd);
    }
  });

  it('reports failed syscalls with the syscall and errno', () => {
    const fd = native().memfdCreate(uniqueName('ebadf'), page);
    native().closeFd(fd);
    // fd is closed; as above, tolerate its number being reused by someone else.
    let inUse = true;
    try {
      fstatSync(fd);
    } catch {
      inUse = false;
    }
    if (!inUse) {
      const err = throwsCode(() => native().closeFd(fd), 'ERR_HOST_SYSCALL_FAILED');
      assert.deepEqual(err.details, { syscall: 'close', errno: 9, errnoName: 'EBADF' });
      assert.match(err.message, /^close failed: EBADF \(/);
      assert.ok(err.cause instanceof Error);
      const mapErr = throwsCode(() => native().mapShared(fd, page), 'ERR_HOST_SYSCALL_FAILED');
      assert.equal(mapErr.details['syscall'], 'fstat');
    }
  });

  it('validates argument types and ranges', () => {
    const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const call = (name: string, ...args: unknown[]) => () => addon[name]?.(...args);
    throwsCode(call('memfdCreate', 'x'), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(call('memfdCreate', 'x', 0), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(call('memfdCreate', 'x', 2 ** 53), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(call('mapShared', -1, page), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(call('mapShared', 1.5, page), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(call('mapShared', 0n, page), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(call('closeFd'), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(call('closeFd', 2 ** 31), 'ERR_HOST_OUT_OF_RANGE');
  });
});

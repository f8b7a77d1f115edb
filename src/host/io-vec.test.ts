import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { throwsCode } from '../../test/support/host-testing.js';
import { IOV_MAX, IoVec, UnixSocket } from './index.js';
import { native } from './native.js';

/** A connected pair of raw fds (closed after `body`). */
function withFds(body: (a: number, b: number) => void) {
  return () => {
    const [a, b] = UnixSocket.pair();
    try {
      body(a.fd, b.fd);
    } finally {
      a.close();
      b.close();
    }
  };
}

describe('fd I/O straight into and out of views', () => {
  it(
    'reads and writes byte ranges of any view, shared or not, returning -1 when it would block',
    withFds((a, b) => {
      const addon = native();
      const guest = new SharedArrayBuffer(4096);
      const source = new Uint8Array(guest, 1024, 64);
      source.set([1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(addon.fdWrite(a, source, 2, 5), 5);

      const target = new DataView(new ArrayBuffer(32), 8);
      assert.equal(addon.fdRead(b, target, 3, 16), 5);
      assert.deepEqual([...new Uint8Array(target.buffer, 11, 6)], [3, 4, 5, 6, 7, 0]);
      assert.equal(addon.fdRead(b, target, 0, 16), -1, 'EAGAIN');

      // Offsets are bytes whatever the element type.
      const words = new Float64Array(4);
      new Uint8Array(words.buffer).fill(0xee);
      assert.equal(addon.fdWrite(a, words, 8, 8), 8);
      const into = new Uint32Array(guest, 0, 8);
      assert.equal(addon.fdRead(b, into, 4, 28), 8);
      assert.deepEqual([...new Uint8Array(guest, 0, 14)], [0, 0, 0, 0, ...new Array(8).fill(0xee), 0, 0]);
      assert.equal(addon.fdWrite(a, into, 0, 0), 0, 'an empty write is fine');
    }),
  );

  it(
    'gathers from and scatters into segments of several views (IoVec)',
    withFds((a, b) => {
      const addon = native();
      const ram = new Uint8Array(new SharedArrayBuffer(0x4000));
      const header = new Uint8Array(12).fill(0x11);
      ram.fill(0x22, 0x1000, 0x1000 + 100);
      ram.fill(0x33, 0x3000, 0x3000 + 50);

      const out = new IoVec(4).add(header).add(ram, 0x1000, 100).add(ram, 0x3000, 50);
      assert.deepEqual([out.count, out.byteLength, out.views.length], [3, 162, 2]);
      assert.equal(addon.fdWritev(a, out.views, out.table, out.count), 162);

      // Scatter the 162 bytes into three pieces of a fresh "RAM", as a descriptor chain would.
      const rx = new Uint8Array(new SharedArrayBuffer(0x4000));
      const into = new IoVec(4).add(rx, 0x100, 12).add(rx, 0x2000, 60).add(rx, 0x3800, 200);
      assert.equal(addon.fdReadv(b, into.views, into.table, into.count), 162);
      assert.deepEqual(rx.subarray(0x100, 0x100 + 12), header);
      assert.ok(rx.subarray(0x2000, 0x2000 + 60).every((x) => x === 0x22));
      assert.deepEqual(
        [...rx.subarray(0x3800, 0x3800 + 91)],
        [...new Array(40).fill(0x22), ...new Array(50).fill(0x33), 0],
      );
      assert.equal(addon.fdReadv(b, into.views, into.table, into.count), -1);

      // clear() keeps the views, so refilling a list allocates nothing.
      into.clear();
      assert.deepEqual([into.count, into.byteLength, into.views.length], [0, 0, 1]);
      into.add(rx, 0, 1);
      assert.equal(into.views.length, 1);
    }),
  );

  it(
    'refuses ranges outside their view, and malformed tables, with typed errors',
    withFds((a) => {
      const addon = native();
      const view = new Uint8Array(16);
      throwsCode(() => addon.fdWrite(a, view, 10, 7), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => addon.fdWrite(a, view, 17, 0), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => addon.fdWrite(a, view, -1, 1), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => addon.fdRead(a, new ArrayBuffer(4) as unknown as Uint8Array, 0, 1), 'ERR_HOST_INVALID_ARG_TYPE');
      throwsCode(() => addon.fdRead(a, [1, 2] as unknown as Uint8Array, 0, 1), 'ERR_HOST_INVALID_ARG_TYPE');

      const table = new Uint32Array([0, 0, 8, 1, 0, 8]);
      throwsCode(() => addon.fdWritev(a, [view], table, 2), 'ERR_HOST_OUT_OF_RANGE'); // no view 1
      throwsCode(() => addon.fdWritev(a, [view], table, 3), 'ERR_HOST_OUT_OF_RANGE'); // only 2 triples
      throwsCode(() => addon.fdWritev(a, [view], new Uint32Array([0, 12, 8]), 1), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => addon.fdWritev(a, [view], new Int32Array(3) as unknown as Uint32Array, 1), 'ERR_HOST_INVALID_ARG_TYPE');
      throwsCode(() => addon.fdWritev(a, view as unknown as Uint8Array[], table, 1), 'ERR_HOST_INVALID_ARG_TYPE');
      throwsCode(() => addon.fdWritev(a, [{} as Uint8Array], table, 1), 'ERR_HOST_INVALID_ARG_TYPE');
      assert.equal(addon.fdWritev(a, [view], table, 1), 8);
      assert.equal(addon.fdWritev(a, [view], table, 0), 0);
    }),
  );

  it('IoVec checks its segments when they are added', () => {
    assert.equal(IOV_MAX, native().hostConstants()['IOV_MAX']);
    const view = new Uint8Array(16);
    const iov = new IoVec(2);
    throwsCode(() => iov.add(view, 8, 9), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => iov.add(view, -1), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => iov.add(view, 1.5), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => iov.add([] as unknown as Uint8Array), 'ERR_HOST_INVALID_ARG_TYPE');
    iov.add(view, 16).add(view, 0, 16);
    assert.deepEqual([iov.count, iov.byteLength], [2, 16]);
    throwsCode(() => iov.add(view), 'ERR_HOST_OUT_OF_RANGE');
    for (const capacity of [0, IOV_MAX + 1, 2.5]) throwsCode(() => new IoVec(capacity), 'ERR_HOST_OUT_OF_RANGE');
    // Fresh views on every frame are forgotten on clear() once there are many.
    const many = new IoVec(IOV_MAX);
    for (let i = 0; i < 20; i++) many.add(new Uint8Array(1));
    assert.equal(many.clear().views.length, 0);
  });
});

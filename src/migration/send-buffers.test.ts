import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SendBufferPool } from './send-buffers.js';

test('a released buffer is handed out again; what is too small or beyond `keep` is left to the GC', () => {
  const pool = new SendBufferPool(1024, 2);
  const a = pool.get();
  const b = pool.get();
  const c = pool.get();
  assert.equal(a.length, 1024);
  assert.notEqual(a.buffer, b.buffer);
  pool.release(a.subarray(0, 10)); // a view of the batch that was sent
  pool.release(a.subarray(0, 20)); // the same buffer twice is kept once
  assert.equal(pool.idle, 1);
  pool.release(b);
  pool.release(c); // beyond keep
  assert.equal(pool.idle, 2);
  pool.release(new Uint8Array(512)); // smaller than size
  assert.equal(pool.idle, 2);
  const again = [pool.get().buffer, pool.get().buffer];
  assert.ok(again.includes(a.buffer) && again.includes(b.buffer));
  assert.equal(pool.idle, 0);
  assert.notEqual(pool.get().buffer, a.buffer, 'an empty pool allocates');
});

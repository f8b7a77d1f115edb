import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { connectMigration, listenMigration } from './migration-socket.js';

test('the destination reads a migration into one reused buffer, and every byte arrives in order', async () => {
  const received = createHash('sha256');
  const buffers = new Set<ArrayBufferLike>();
  let total = 0;
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const listener = await listenMigration({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => ({
    onData: (chunk) => {
      buffers.add(chunk.buffer);
      received.update(chunk); // consumed now: the next read reuses the memory
      total += chunk.length;
    },
    onClose: () => closed(),
  }));
  const port = Number(listener.uri.split(':').pop());
  const link = await connectMigration({ kind: 'tcp', host: '127.0.0.1', port }, { onData: () => undefined, onClose: () => undefined });
  const sent = createHash('sha256');
  let flushed = 0;
  for (let i = 0; i < 48; i++) {
    const chunk = new Uint8Array(128 * 1024).map((_v, j) => (i * 31 + j * 7) & 0xff);
    sent.update(chunk);
    if (!link.write(chunk, () => flushed++)) await link.drained();
  }
  await link.end();
  await done;
  await listener.close();
  assert.equal(total, 48 * 128 * 1024);
  assert.equal(received.digest('hex'), sent.digest('hex'));
  assert.equal(flushed, 48, 'every write reported its flush');
  assert.equal(buffers.size, 1, `reads landed in ${buffers.size} distinct buffers, not one reused buffer`);
});

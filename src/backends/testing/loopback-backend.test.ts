/** The loopback backend behaves as the TAP backend does toward a device: level-triggered, async, pausable, with back-pressure. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LoopbackBackend } from './loopback-backend.js';
import type { NetBackendClient } from '../net-backend.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function client(backend: LoopbackBackend, take = Infinity): NetBackendClient & { events: string[] } {
  const events: string[] = [];
  const buf = new Uint8Array(2048);
  return {
    events,
    rxReady(q) {
      events.push(`rx${q}`);
      for (let i = 0; i < take; i++) {
        const n = backend.receive(q, buf);
        if (n < 0) break;
        events.push(`frame${buf[0]}`);
      }
    },
    txReady: (q) => events.push(`tx${q}`),
    backendError: (q, e) => events.push(`error ${q} ${String(e)}`),
  };
}

describe('LoopbackBackend', () => {
  test('no rxReady while paused; after resume, on a later turn, again while frames remain', async () => {
    const b = new LoopbackBackend();
    const c = client(b, 1);
    b.attach(c);
    b.inject(0, Uint8Array.of(1));
    b.inject(0, Uint8Array.of(2));
    await tick();
    assert.deepEqual(c.events, []);
    b.resume(0);
    assert.deepEqual(c.events, [], 'never synchronously inside a call from the device');
    await tick();
    await tick();
    assert.deepEqual(c.events, ['rx0', 'frame1', 'rx0', 'frame2']);
  });

  test('a full queue refuses sends until cleared, then signals txReady', async () => {
    const b = new LoopbackBackend();
    const c = client(b);
    b.attach(c);
    b.setTxFull(0, true);
    assert.equal(b.send(0, [Uint8Array.of(1)]), false);
    b.setTxFull(0, false);
    await tick();
    assert.deepEqual(c.events, ['tx0']);
    assert.equal(b.send(0, [Uint8Array.of(1), Uint8Array.of(2)]), true);
    assert.deepEqual(b.sent, [{ queue: 0, bytes: Uint8Array.of(1, 2) }]);
  });

  test('bad queues and double attach are refused', () => {
    const b = new LoopbackBackend({ queuePairs: 2 });
    b.attach(client(b));
    assert.throws(() => b.attach(client(b)), (e: unknown) => (e as { code?: string }).code === 'ERR_BACKEND_ATTACHED');
    assert.throws(() => b.inject(2, new Uint8Array(1)), (e: unknown) => (e as { code?: string }).code === 'ERR_BACKEND_BAD_QUEUE');
  });
});

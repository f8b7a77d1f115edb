import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';

import { MalformedError } from '../core/index.js';
import { ReturnPathDecoder, encodeReturnPath } from './return-path.js';
import type { ReturnPathMessage } from './return-path.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('return path', () => {
  test("QEMU's messages keep QEMU's bytes", () => {
    assert.equal(hex(encodeReturnPath({ type: 'shut', status: 0 })), '0001000400000000');
    assert.equal(hex(encodeReturnPath({ type: 'shut', status: 1 })), '0001000400000001');
    assert.equal(hex(encodeReturnPath({ type: 'pong', value: 0x01020304 })), '0002000401020304');
    assert.equal(hex(encodeReturnPath({ type: 'switchover-ack' })), '00070000');
  });

  test('messages survive any split into chunks', () => {
    const msgs: ReturnPathMessage[] = [
      { type: 'switchover-ack' },
      { type: 'pong', value: 1 },
      { type: 'report', report: { ok: true, phases: { deviceLoadMs: 1.5 } } },
      { type: 'shut', status: 0 },
    ];
    const bytes = Buffer.concat(msgs.map((m) => encodeReturnPath(m)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 6 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const d = new ReturnPathDecoder();
        const out: ReturnPathMessage[] = [];
        let prev = 0;
        for (const c of [...points, bytes.length]) {
          out.push(...d.push(new Uint8Array(bytes.subarray(prev, c))));
          prev = c;
        }
        assert.deepEqual(out, msgs);
      }),
    );
  });

  test('a refusal report carries the reason', () => {
    const [m] = new ReturnPathDecoder().push(encodeReturnPath({ type: 'report', report: { ok: false, error: 'Machine type mismatch' } }));
    assert.deepEqual(m, { type: 'report', report: { ok: false, error: 'Machine type mismatch' } });
  });

  const bad = (bytes: number[], message: RegExp) => {
    assert.throws(() => new ReturnPathDecoder().push(Uint8Array.from(bytes)), (e: unknown) => e instanceof MalformedError && e.code === 'ERR_MIGRATE_BAD_RETURN_PATH' && message.test(e.message));
  };

  test('bad messages are typed errors naming the offset and the problem', () => {
    bad([0, 0, 0, 0], /byte 0: unknown type 0/);
    bad([0, 9, 0, 0], /unknown type 9/);
    bad([0, 4, 0, 12, ...new Array<number>(12).fill(0)], /postcopy/);
    bad([0, 1, 0, 3, 0, 0, 0], /type 1 must carry 4 bytes, not 3/);
    bad([0x76, 0x01, 0, 2, 0x7b, 0x7d], /boolean "ok"/);
    bad([0x76, 0x01, 0, 1, 0x7b], /not JSON/);
    bad([0x76, 0x01, 0xff, 0xff], /exceeds/);
  });

  test('an incomplete message waits for more bytes', () => {
    const d = new ReturnPathDecoder();
    assert.deepEqual(d.push(Uint8Array.of(0, 1, 0)), []);
    assert.deepEqual(d.push(Uint8Array.of(4, 0, 0, 0)), []);
    assert.deepEqual(d.push(Uint8Array.of(7)), [{ type: 'shut', status: 7 }]);
  });

  test('random bytes never crash or hang the decoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          new ReturnPathDecoder().push(bytes);
        } catch (e) {
          assert.ok(e instanceof MalformedError, String(e));
        }
      }),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import * as P from './protocol.js';
import { MessageFramer, VhostUserError } from './protocol.js';

const msgOf = (request: number, payload: Uint8Array): P.VhostUserMessage => ({ request, flags: P.VHOST_USER_VERSION, payload, fds: [] });

describe('vhost-user messages', () => {
  it('encodes the 12-byte header in little-endian order with the payload after it', () => {
    const bytes = P.encodeMessage(P.VHOST_USER_SET_FEATURES, P.u64Payload(0x1_0000_0003n), P.VHOST_USER_VERSION | P.VHOST_USER_NEED_REPLY_MASK);
    assert.deepEqual([...bytes.subarray(0, 12)], [2, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0]);
    assert.deepEqual([...bytes.subarray(12)], [3, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('payloads decode to what was encoded (vring state, vring addr, memory table, log area)', () => {
    assert.deepEqual(P.decodeVringState(msgOf(8, P.vringStatePayload({ index: 3, num: 256 }))), { index: 3, num: 256 });
    const addr = { index: 5, flags: 1, desc: 0x7f00_0000_1000n, used: 0x7f00_0000_3000n, avail: 0x7f00_0000_2000n, log: 0x3000n };
    assert.deepEqual(P.decodeVringAddr(msgOf(9, P.vringAddrPayload(addr))), addr);
    const regions = [{ guestPhysAddr: 0n, memorySize: 1n << 28n, userspaceAddr: 0x7f00_0000_0000n, mmapOffset: 0n }];
    assert.deepEqual(P.decodeMemTable(msgOf(5, P.memTablePayload(regions))), regions);
    assert.deepEqual(P.decodeLogArea(msgOf(6, P.logAreaPayload({ mmapSize: 8192n, mmapOffset: 0n }))), { mmapSize: 8192n, mmapOffset: 0n });
    assert.equal(P.decodeU64(msgOf(1, P.u64Payload(-1n))), 0xffff_ffff_ffff_ffffn);
  });

  it('a payload shorter than its request needs is ERR_BACKEND_VHOST_USER_BAD_MESSAGE, naming the request', () => {
    for (const [decode, request, size] of [
      [P.decodeU64, 2, 7],
      [P.decodeVringState, 8, 4],
      [P.decodeVringAddr, 9, 39],
      [P.decodeLogArea, 6, 15],
      [P.decodeMemTable, 5, 0],
    ] as const) {
      assert.throws(
        () => decode(msgOf(request, new Uint8Array(size))),
        (e: unknown) => e instanceof VhostUserError && e.code === 'ERR_BACKEND_VHOST_USER_BAD_MESSAGE' && e.message.includes(`(${request})`),
      );
    }
  });

  it('a memory table with more regions than the protocol allows, or fewer bytes than it claims, is refused', () => {
    const nine = new Uint8Array(8 + 9 * 32);
    nine[0] = 9;
    assert.throws(() => P.decodeMemTable(msgOf(5, nine)), /9 regions, at most 8/);
    const claimsTwo = new Uint8Array(8 + 32);
    claimsTwo[0] = 2;
    assert.throws(() => P.decodeMemTable(msgOf(5, claimsTwo)), /payload of 40 bytes, 72 needed/);
  });
});

describe('MessageFramer', () => {
  const a = P.encodeMessage(P.VHOST_USER_SET_VRING_NUM, P.vringStatePayload({ index: 1, num: 256 }));
  const b = P.encodeMessage(P.VHOST_USER_SET_OWNER);
  const c = P.encodeMessage(P.VHOST_USER_SET_MEM_TABLE, P.memTablePayload([{ guestPhysAddr: 0n, memorySize: 4096n, userspaceAddr: 0n, mmapOffset: 0n }]));
  const stream = new Uint8Array([...a, ...b, ...c]);

  it('property: however the stream is cut, the same messages come out in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((x, y) => x - y);
        const framer = new MessageFramer();
        const out: P.VhostUserMessage[] = [];
        let at = 0;
        for (const p of [...points, stream.length]) {
          out.push(...framer.push(stream.subarray(at, p)));
          at = p;
        }
        assert.deepEqual(out.map((m) => [m.request, m.payload.length]), [[8, 8], [3, 0], [5, 40]]);
        assert.equal(framer.buffered, 0);
      }),
    );
  });

  it('need() asks for the header, then exactly the rest of the message, so fds stay with their message', () => {
    const framer = new MessageFramer();
    assert.equal(framer.need(), 12);
    assert.deepEqual(framer.push(c.subarray(0, 5)), []);
    assert.equal(framer.need(), 7);
    assert.deepEqual(framer.push(c.subarray(5, 12), [42]), []);
    assert.equal(framer.need(), c.length - 12);
    const [msg] = framer.push(c.subarray(12));
    assert.deepEqual(msg?.fds, [42]);
    assert.equal(framer.need(), 12);
  });

  it('a wrong version or an oversized payload is ERR_BACKEND_VHOST_USER_BAD_MESSAGE', () => {
    const bad = P.encodeMessage(P.VHOST_USER_SET_OWNER, undefined, 2);
    assert.throws(() => new MessageFramer().push(bad), (e: unknown) => e instanceof VhostUserError && e.code === 'ERR_BACKEND_VHOST_USER_BAD_MESSAGE' && /version 2/.test(e.message));
    const huge = P.encodeMessage(P.VHOST_USER_SET_OWNER);
    new DataView(huge.buffer).setUint32(8, P.VHOST_USER_MAX_PAYLOAD + 1, true);
    assert.throws(() => new MessageFramer().push(huge), /payload of 4097 bytes, at most 4096/);
  });

  it('property: arbitrary bytes give messages or a VhostUserError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          for (const m of new MessageFramer().push(bytes)) assert.ok(m.payload.length <= P.VHOST_USER_MAX_PAYLOAD);
        } catch (err) {
          assert.ok(err instanceof VhostUserError, String(err));
        }
      }),
    );
  });
});

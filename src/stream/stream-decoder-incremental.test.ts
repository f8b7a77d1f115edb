/**
 * StreamDecoder fed in pieces: however the bytes are cut, push() yields the
 * same items as one push of the whole stream; a strict prefix is never an
 * error for push() and always a TruncatedError (ERR_STREAM_TRUNCATED) at
 * end(); bytes after the vmdesc are ERR_STREAM_TRAILING_BYTES.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MalformedError, TruncatedError } from '../core/index.js';
import type { StreamItem } from './items.js';
import { StreamDecoder, decodeStream } from './stream-decoder.js';
import type { StreamDecoderOptions } from './stream-decoder.js';
import { cat, hex, resolveTiny, smallStream, thrown } from './stream-test-kit.js';

function decodeChunks(chunks: Uint8Array[], options: StreamDecoderOptions): StreamItem[] {
  const d = new StreamDecoder(options);
  const items: StreamItem[] = [];
  for (const c of chunks) for (const item of d.push(c)) items.push(item);
  d.end();
  return items;
}

/** A readable account of the first difference, so a failing split names its offset and item. */
function sameItems(actual: StreamItem[], expected: StreamItem[], label: string): void {
  if (actual.length === expected.length) {
    let same = true;
    for (let i = 0; i < actual.length && same; i++) {
      try {
        assert.deepStrictEqual(actual[i], expected[i]);
      } catch {
        same = false;
      }
    }
    if (same) return;
  }
  assert.deepEqual(actual, expected, label);
}

const variants = [
  { label: 'with configuration and footers', stream: { footers: true, configuration: true }, options: { resolve: resolveTiny, footers: 'required', configuration: 'required' } },
  { label: 'with footers "auto" and configuration "auto"', stream: { footers: true, configuration: true }, options: { resolve: resolveTiny } },
  { label: 'without footers or configuration', stream: { footers: false, configuration: false }, options: { resolve: resolveTiny } },
] as const;

for (const { label, stream, options } of variants) {
  describe(`the small synthetic stream ${label}`, () => {
    const { bytes, items } = smallStream(stream);

    it('one push decodes to the hand-listed items', () => {
      sameItems(decodeStream(bytes, options), items, 'one push');
    });

    it('read through one reused buffer (a receiver that reads into the same memory), it yields the same items', () => {
      for (const size of [1, 3, 7, 16, 64]) {
        const d = new StreamDecoder(options);
        const got: StreamItem[] = [];
        const buffer = new Uint8Array(size);
        for (let off = 0; off < bytes.length; off += size) {
          const n = Math.min(size, bytes.length - off);
          buffer.set(bytes.subarray(off, off + n));
          // Items are consumed before the next read overwrites the buffer: copy their byte views now.
          for (const item of d.push(buffer.subarray(0, n))) got.push(structuredClone(item));
          buffer.fill(0xa5); // what a later read would leave there
        }
        d.end();
        sameItems(got, items, `reads of ${size} bytes`);
      }
    });

    it('split in two chunks at every byte offset, it yields exactly the items of one push', () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        sameItems(decodeChunks([bytes.subarray(0, cut), bytes.subarray(cut)], options), items, `split at ${cut}`);
      }
    });

    it('fed one byte at a time, it yields exactly the items of one push', () => {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
      sameItems(decodeChunks(chunks, options), items, 'byte by byte');
    });

    it('each push yields only items that lie wholly inside the bytes pushed so far', () => {
      const d = new StreamDecoder(options);
      let pushed = 0;
      for (const step of [1, 7, 3, 64, 4095, 2, 9000]) {
        const chunk = bytes.subarray(pushed, pushed + step);
        pushed += chunk.length;
        for (const item of d.push(chunk)) assert.ok(item.offset < pushed, `item ${item.type} at ${item.offset} after ${pushed} bytes`);
        assert.ok(d.offset <= pushed);
      }
    });

    it('every strict prefix is accepted by push() and rejected by end() with ERR_STREAM_TRUNCATED, except the one ending at EOF', () => {
      const eof = items.find((i) => i.type === 'eof')!;
      for (let n = 0; n < bytes.length; n++) {
        const d = new StreamDecoder(options);
        d.push(bytes.subarray(0, n));
        if (n === eof.offset + 1) {
          d.end(); // a stream without vmdesc is complete (§1.8)
          assert.equal(d.finished, true);
          continue;
        }
        const err = thrown(() => d.end());
        assert.ok(err instanceof TruncatedError, `prefix of ${n} bytes: ${String(err)}`);
        assert.equal(err.code, 'ERR_STREAM_TRUNCATED', `prefix of ${n} bytes`);
        assert.ok(err.offset <= n, `prefix of ${n} bytes: error offset ${err.offset}`);
      }
    });

    it('bytes after the vmdesc fail with ERR_STREAM_TRAILING_BYTES, in the same push or a later one', () => {
      for (const extra of [hex('00'), hex('06 00 00 00 00'), hex('51 45 56 4D')]) {
        const one = thrown(() => new StreamDecoder(options).push(cat(bytes, extra)));
        assert.ok(one instanceof MalformedError);
        assert.equal(one.code, 'ERR_STREAM_TRAILING_BYTES');
        assert.equal(one.offset, bytes.length);

        const d = new StreamDecoder(options);
        d.push(bytes);
        const later = thrown(() => d.push(extra));
        assert.ok(later instanceof MalformedError);
        assert.equal(later.code, 'ERR_STREAM_TRAILING_BYTES');
        assert.equal(later.offset, bytes.length);
      }
    });
  });
}

describe('StreamDecoder bookkeeping', () => {
  const { bytes } = smallStream();

  it('offset counts the bytes decoded, and finished turns true once EOF and the vmdesc are read', () => {
    const d = new StreamDecoder({ resolve: resolveTiny });
    assert.equal(d.offset, 0);
    assert.equal(d.finished, false);
    d.push(bytes.subarray(0, 100));
    assert.ok(d.offset > 8 && d.offset <= 100);
    assert.equal(d.finished, false);
    d.push(bytes.subarray(100));
    assert.equal(d.offset, bytes.length);
    assert.equal(d.finished, true);
    d.end();
    d.end();
  });

  it('empty pushes yield nothing and change nothing', () => {
    const d = new StreamDecoder({ resolve: resolveTiny });
    assert.deepEqual(d.push(new Uint8Array(0)), []);
    const first = d.push(bytes.subarray(0, 50));
    assert.deepEqual(d.push(new Uint8Array(0)), []);
    const rest = d.push(bytes.subarray(50));
    d.end();
    assert.deepEqual(d.push(new Uint8Array(0)), []);
    sameItems([...first, ...rest], decodeStream(bytes, { resolve: resolveTiny }), 'with empty pushes');
  });

  it('the configuration is available from the decoder once its section is decoded', () => {
    const d = new StreamDecoder({ resolve: resolveTiny });
    const machine = () => d.configuration?.machine;
    assert.equal(machine(), undefined);
    d.push(bytes);
    assert.equal(machine(), 'pc-i440fx-7.2');
  });

  it('a device body cut right before its subsection waits for the subsection instead of ending the body', () => {
    const { items } = smallStream();
    const dev = items.find((i) => i.type === 'device-state' && i.header.sectionId === 5)!;
    const subAt = dev.offset + 11; // flags, mode, count, 2 regs; then 05 "tiny-dev/extra"
    assert.equal(bytes[subAt], 0x05);
    const d = new StreamDecoder({ resolve: resolveTiny, footers: 'required' });
    const first = d.push(bytes.subarray(0, subAt));
    assert.ok(!first.some((i) => i.type === 'device-state'));
    const second = d.push(bytes.subarray(subAt));
    const state = second.find((i) => i.type === 'device-state');
    assert.deepEqual(state?.type === 'device-state' ? state.state.extra : undefined, 0x0102030405060708n);
  });

  it('a configuration cut right before its uuid subsection waits for it', () => {
    const cut = 8 + 18;
    assert.equal(bytes[cut], 0x05);
    const d = new StreamDecoder({ resolve: resolveTiny });
    assert.ok(!d.push(bytes.subarray(0, cut)).some((i) => i.type === 'configuration'));
    const cfg = d.push(bytes.subarray(cut)).find((i) => i.type === 'configuration');
    assert.equal(cfg?.type === 'configuration' ? cfg.config.uuid?.length : 0, 16);
  });

  it('page payloads of items from earlier pushes stay intact while later chunks arrive', () => {
    const d = new StreamDecoder({ resolve: resolveTiny });
    const items: StreamItem[] = [];
    for (let at = 0; at < bytes.length; at += 1000) items.push(...d.push(bytes.slice(at, at + 1000)));
    d.end();
    sameItems(items, decodeStream(bytes, { resolve: resolveTiny }), '1000-byte copies');
  });
});

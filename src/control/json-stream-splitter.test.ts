import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { JsonStreamSplitter, toStandardJson } from './json-stream-splitter.js';
import type { JsonFrame } from './json-stream-splitter.js';

const enc = (s: string) => new TextEncoder().encode(s);

function feedAll(splitter: JsonStreamSplitter, chunks: Uint8Array[]): JsonFrame[] {
  return chunks.flatMap((c) => splitter.push(c));
}

function texts(frames: JsonFrame[]): string[] {
  return frames.map((f) => (f.kind === 'text' ? f.text : `ERROR: ${f.desc}`));
}

describe('JsonStreamSplitter framing', () => {
  test('several objects in one chunk, with and without whitespace between them', () => {
    const s = new JsonStreamSplitter();
    assert.deepEqual(texts(s.push(enc('{"a":1}{"b":2}\r\n  {"c":[3,{"d":4}]}\n'))), ['{"a":1}', '{"b":2}', '{"c":[3,{"d":4}]}']);
    assert.equal(s.pending, 0);
  });

  test('an object split at every byte boundary comes out whole', () => {
    const text = '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "x{}\\"y"}';
    const bytes = enc(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = new JsonStreamSplitter();
      assert.deepEqual(texts(feedAll(s, [bytes.subarray(0, cut), bytes.subarray(cut)])), [text], `cut at ${cut}`);
    }
    const s = new JsonStreamSplitter();
    assert.deepEqual(texts(feedAll(s, [...bytes].map((b) => Uint8Array.of(b)))), [text], 'one byte per chunk');
  });

  test('braces, brackets and escaped quotes inside strings do not count', () => {
    const text = '{"s": "}]{[\\"\\\\", "t": "\\\\"}';
    assert.deepEqual(JSON.parse(text), { s: '}]{["\\', t: '\\' });
    assert.deepEqual(texts(new JsonStreamSplitter().push(enc(`${text}{"n":1}`))), [text, '{"n":1}']);
  });

  test('a multi-byte UTF-8 character split across chunks decodes', () => {
    const bytes = enc('{"name": "café ☃ 😀"}');
    for (let cut = 10; cut < bytes.length; cut++) {
      const frames = feedAll(new JsonStreamSplitter(), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(frames, [{ kind: 'text', text: '{"name": "café ☃ 😀"}' }]);
    }
  });

  test('invalid UTF-8 inside a value is an error frame, and the next value still parses', () => {
    const frames = feedAll(new JsonStreamSplitter(), [Uint8Array.of(0x7b, 0x22, 0x61, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d), enc('{"ok":1}')]);
    assert.deepEqual(texts(frames), ['ERROR: JSON parse error, invalid UTF-8 sequence', '{"ok":1}']);
  });

  test('top-level scalars and stray closers become their own frames (JSON.parse judges them)', () => {
    assert.deepEqual(texts(new JsonStreamSplitter().push(enc('42 "str" } true{"a":1}'))), ['42', '"str"', '}', 'true', '{"a":1}']);
    const pending = new JsonStreamSplitter();
    assert.deepEqual(pending.push(enc('123')), [], 'a bare token waits for its terminator');
    assert.deepEqual(texts(pending.push(enc(' '))), ['123']);
  });

  test('a mismatched closing bracket ends the value so the stream does not stall', () => {
    assert.deepEqual(texts(new JsonStreamSplitter().push(enc('{"a": [1}{"b":2}'))), ['{"a": [1}', '{"b":2}']);
  });

  test("single-quoted strings and \\' escapes are rewritten to standard JSON", () => {
    const frames = new JsonStreamSplitter().push(enc(`{'execute': 'qom-get', 'arguments': {'path': 'it\\'s "x"', "p": "a\\'b"}}`));
    assert.equal(frames.length, 1);
    const f = frames[0]!;
    assert.equal(f.kind, 'text');
    assert.deepEqual(JSON.parse((f as { text: string }).text), { execute: 'qom-get', arguments: { path: `it's "x"`, p: "a'b" } });
    assert.equal(toStandardJson(`'a}'`), '"a}"');
  });

  test('a 0xFF byte discards a partial value (QEMU resynchronisation)', () => {
    const s = new JsonStreamSplitter();
    assert.deepEqual(s.push(enc('{"execute": "qu')), []);
    assert.ok(s.pending > 0);
    assert.deepEqual(texts(s.push(Uint8Array.of(0xff, ...enc('{"a":1}')))), ['{"a":1}']);
  });
});

describe('JsonStreamSplitter limits', () => {
  test('an object over the size limit yields one error and the stream resynchronises after it', () => {
    const s = new JsonStreamSplitter({ maxBytes: 64 });
    const big = `{"execute": "x", "arguments": {"blob": "${'{'.repeat(200)}", "n": [1, {"k": "]"}]}}`;
    const frames = feedAll(s, [enc(big.slice(0, 50)), enc(big.slice(50, 120)), enc(big.slice(120)), enc('{"id": 7}')]);
    assert.deepEqual(texts(frames), ['ERROR: JSON parse error, message larger than 64 bytes', '{"id": 7}']);
  });

  test('an oversized object inside a single chunk is rejected too', () => {
    const s = new JsonStreamSplitter({ maxBytes: 16 });
    assert.deepEqual(texts(s.push(enc('{"a": "0123456789abcdef"} {"b":1}'))), ['ERROR: JSON parse error, message larger than 16 bytes', '{"b":1}']);
  });

  test('the default limit is 1 MiB and memory stays bounded while skipping', () => {
    const s = new JsonStreamSplitter();
    const frames: JsonFrame[] = [];
    frames.push(...s.push(enc('{"blob": "')));
    const filler = enc('x'.repeat(64 * 1024));
    for (let i = 0; i < 20; i++) {
      frames.push(...s.push(filler));
      assert.ok(s.pending <= 1024 * 1024);
    }
    frames.push(...s.push(enc('"}{"after": true}')));
    assert.deepEqual(texts(frames), ['ERROR: JSON parse error, message larger than 1048576 bytes', '{"after": true}']);
  });

  test('nesting deeper than the limit is refused, then skipped to its end', () => {
    const s = new JsonStreamSplitter({ maxDepth: 4 });
    assert.deepEqual(texts(s.push(enc('[[[[1]]]] [[[[[2]]]]] {"x":1}'))), ['[[[[1]]]]', 'ERROR: JSON nesting depth limit exceeded', '{"x":1}']);
  });
});

// Random JSON values, concatenated with random separators and cut into random chunks:
// the splitter must hand back exactly the values JSON.parse sees.
const jsonValue = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string({ unit: 'binary' }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('}', '{', '"', '\\', '[', ']', "'")),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string({ unit: 'binary' }), tie('node'), { maxKeys: 5 })),
})).node;
const topLevel = fc.oneof(fc.dictionary(fc.string({ unit: 'binary' }), jsonValue, { maxKeys: 6 }), fc.array(jsonValue, { maxLength: 6 }));

test('property: splitting random concatenations of random JSON values matches JSON.parse of each', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(topLevel, fc.constantFrom('', ' ', '\n', '\r\n', '\t  ')), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (items, cutSeeds) => {
        const serialized = items.map(([v, sep]) => JSON.stringify(v) + sep).join('');
        const bytes = enc(serialized);
        const cuts = [...new Set(cutSeeds.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const c of [...cuts, bytes.length]) {
          chunks.push(bytes.subarray(prev, c));
          prev = c;
        }
        const s = new JsonStreamSplitter({ maxBytes: 1 << 24 });
        const frames = feedAll(s, chunks);
        assert.equal(frames.length, items.length);
        frames.forEach((f, i) => {
          assert.equal(f.kind, 'text');
          assert.deepEqual(JSON.parse((f as { text: string }).text), JSON.parse(JSON.stringify(items[i]![0])));
        });
        assert.equal(s.pending, 0);
      },
    ),
    { numRuns: 300 },
  );
});

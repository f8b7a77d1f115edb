import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DirtyBitmap, GuestMemory } from '../memory/index.js';
import { StreamDecoder, StreamEncoder } from '../stream/index.js';
import { PageScanner, allPages, pagesOf } from './ram-pages.js';
import { RAM_BLOCK_NAME } from './vmig-sections.js';

test('zero pages are found, and a single non-zero byte anywhere in a page is seen', () => {
  const mem = GuestMemory.createAnonymous(16 * 4096);
  const scan = new PageScanner(mem);
  for (let p = 0; p < 16; p++) assert.equal(scan.isZero(p), true);
  for (const offset of [0, 1, 31, 32, 2047, 4095]) {
    mem.writeU8(5 * 4096 + offset, 1);
    assert.equal(scan.isZero(5), false, `byte ${offset}`);
    assert.equal(scan.isZero(4), true);
    assert.equal(scan.isZero(6), true);
    mem.writeU8(5 * 4096 + offset, 0);
  }
});

test('encoded pages decode to the same RAM: ZERO records for zero pages, PAGE records with the bytes otherwise', () => {
  const mem = GuestMemory.createAnonymous(8 * 4096);
  mem.fill(2 * 4096, 4096, 0xab);
  mem.writeU32(7 * 4096 + 100, 0xdeadbeef);
  const enc = new StreamEncoder();
  enc.header().configuration({ machine: 'pc-q35-11.1' });
  enc.sectionHeader({ kind: 'start', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 }).ramBlocks([{ idstr: RAM_BLOCK_NAME, usedLength: mem.size }]);
  const zeros = new PageScanner(mem).encode(enc, allPages(8), 0, 8);
  enc.ramEos().footer(2).eof();
  assert.equal(zeros, 6);
  const items = new StreamDecoder().push(enc.take());
  const out = GuestMemory.createAnonymous(8 * 4096);
  out.fill(0, out.size, 0x11);
  let pages = 0;
  for (const it of items) {
    if (it.type === 'ram-page') {
      out.write(it.addr, it.data);
      pages++;
    } else if (it.type === 'ram-zero') out.fill(it.addr, 4096, it.fill);
  }
  assert.equal(pages, 2);
  assert.deepEqual(out.bytes, mem.bytes);
});

test('pagesOf: the union of dirty snapshots, ascending', () => {
  const a = DirtyBitmap.create(100);
  const b = DirtyBitmap.create(100);
  for (const p of [0, 31, 32, 63, 99]) a.markPage(p);
  for (const p of [31, 40, 64]) b.markPage(p);
  assert.deepEqual([...pagesOf(a.fetchAndClear(), b.fetchAndClear())], [0, 31, 32, 40, 63, 64, 99]);
  assert.deepEqual([...allPages(3)], [0, 1, 2]);
});

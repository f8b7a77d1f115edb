import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import fc from 'fast-check';

import { DirtyBitmap, GUEST_PAGE_SIZE, GuestMemory } from './index.js';

describe('DirtyBitmap', () => {
  it('starts clean, marks single pages (including bit 31 of a word) and reports them', () => {
    const bm = DirtyBitmap.create(100);
    assert.equal(bm.count(), 0);
    for (const p of [0, 31, 32, 63, 99]) bm.markPage(p);
    bm.markPage(31);
    assert.equal(bm.count(), 5);
    assert.ok(bm.isDirty(31));
    assert.ok(!bm.isDirty(30));
    assert.deepEqual(bm.fetchAndClear().toArray(), [0, 31, 32, 63, 99]);
  });

  it('markPages() sets exactly the range, across word boundaries', () => {
    for (const [first, count] of [[0, 1], [5, 27], [5, 28], [31, 2], [30, 70], [0, 100], [64, 32], [99, 1]] as const) {
      const bm = DirtyBitmap.create(100);
      bm.markPages(first, count);
      assert.deepEqual(bm.fetchAndClear().toArray(), Array.from({ length: count }, (_, i) => first + i), `${first}+${count}`);
    }
  });

  it('markAll() marks every page and nothing past pageCount', () => {
    const bm = DirtyBitmap.create(45);
    bm.markAll();
    assert.equal(bm.count(), 45);
    const snap = bm.fetchAndClear();
    assert.equal(snap.count(), 45);
    assert.equal(snap.words[1], (1 << 13) - 1, 'last word holds only bits 0..12');
    assert.ok(!snap.has(45));
  });

  it('fetchAndClear() returns the set in ascending order and leaves the bitmap clean', () => {
    const bm = DirtyBitmap.create(300);
    for (const p of [299, 7, 150, 8, 64]) bm.markPage(p);
    const snap = bm.fetchAndClear();
    assert.deepEqual([...snap], [7, 8, 64, 150, 299]);
    assert.equal(snap.count(), 5);
    assert.ok(snap.has(150) && !snap.has(151) && !snap.has(-1) && !snap.has(1.5));
    assert.equal(bm.count(), 0);
    assert.equal(bm.fetchAndClear().count(), 0);
    bm.markPage(7);
    assert.deepEqual(bm.fetchAndClear().toArray(), [7], 'marks after a harvest go to the next snapshot');
    assert.deepEqual(snap.toArray(), [7, 8, 64, 150, 299], 'a snapshot is a private copy');
  });

  it('refuses pages outside the bitmap (a caller bug: RangeError)', () => {
    const bm = DirtyBitmap.create(10);
    assert.throws(() => bm.markPage(10), RangeError);
    assert.throws(() => bm.markPage(-1), RangeError);
    assert.throws(() => bm.markPages(5, 6), RangeError);
    assert.throws(() => bm.isDirty(1.5), RangeError);
    assert.throws(() => DirtyBitmap.create(0), RangeError);
    assert.equal(bm.count(), 0);
  });

  it('fromShared() shares the bits and checks the buffer size', () => {
    const a = DirtyBitmap.create(64);
    const b = DirtyBitmap.fromShared(a.buffer, 64);
    b.markPage(40);
    assert.ok(a.isDirty(40));
    assert.equal(DirtyBitmap.byteLengthFor(64), 8);
    assert.equal(DirtyBitmap.byteLengthFor(65), 12);
    assert.throws(() => DirtyBitmap.fromShared(a.buffer, 65), RangeError);
  });

  it('fromShared() over a longer buffer (a page-sized memfd, a vhost-user log) uses only its first words', () => {
    const buffer = new SharedArrayBuffer(4096);
    const tail = new Uint32Array(buffer);
    tail[10] = 0xffff_ffff; // past the 40-page bitmap's two words: must stay out of it
    const bm = DirtyBitmap.fromShared(buffer, 40);
    bm.markAll();
    assert.equal(bm.count(), 40);
    assert.deepEqual(bm.fetchAndClear().toArray().length, 40);
    assert.equal(tail[10], 0xffff_ffff);
    assert.equal(tail[2], 0);
  });

  it('property: random marks then fetchAndClear give the model set', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((pageCount) =>
          fc.tuple(
            fc.constant(pageCount),
            fc.array(fc.tuple(fc.integer({ min: 0, max: pageCount - 1 }), fc.integer({ min: 1, max: 40 })), { maxLength: 30 }),
          ),
        ),
        ([pageCount, ranges]) => {
          const bm = DirtyBitmap.create(pageCount);
          const model = new Set<number>();
          for (const [first, n] of ranges) {
            const count = Math.min(n, pageCount - first);
            bm.markPages(first, count);
            for (let i = 0; i < count; i++) model.add(first + i);
          }
          assert.equal(bm.count(), model.size);
          assert.deepEqual(bm.fetchAndClear().toArray(), [...model].sort((x, y) => x - y));
        },
      ),
    );
  });
});

/**
 * Worker body (CommonJS, eval'd). It imports the compiled memory layer, wraps
 * the posted buffers, and then, for each round the main thread starts, writes
 * one byte into each page of its list through GuestMemory (the real marking
 * path) and reports the round done. Each page is written once per round, so a
 * lost bit cannot be hidden by a later write of the same page.
 *
 * control (Int32Array): [0] round the main thread started, [1] workers ready,
 * [2] worker-rounds finished.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { GuestMemory } = await import(workerData.moduleUrl);
  const mem = GuestMemory.fromShared(workerData.shared);
  const control = new Int32Array(workerData.control);
  Atomics.add(control, 1, 1);
  for (let round = 1; round <= workerData.rounds; round++) {
    while (Atomics.load(control, 0) < round) Atomics.wait(control, 0, round - 1, 1000);
    for (const page of workerData.pages) mem.writeU8(page * 4096 + (round % 4096), round & 0xff);
    Atomics.add(control, 2, 1);
  }
  parentPort.postMessage('done');
})().catch((err) => { parentPort.postMessage('error: ' + (err && err.stack)); });
`;

interface WorkerPlan {
  pages: number[];
}

/**
 * Runs `rounds` rounds of the workers writing their pages; during each round
 * the main thread keeps harvesting when `harvestConcurrently`, and after it
 * harvests once more. Returns, per round, the union of that round's harvests.
 */
async function raceWorkers(mem: GuestMemory, plans: WorkerPlan[], rounds: number, harvestConcurrently: boolean): Promise<Set<number>[]> {
  const control = new SharedArrayBuffer(12);
  const ctl = new Int32Array(control);
  const moduleUrl = new URL('./index.js', import.meta.url).href;
  const workers = plans.map(
    (plan) => new Worker(WORKER_CODE, { eval: true, workerData: { moduleUrl, shared: mem.shared, control, pages: plan.pages, rounds } }),
  );
  const replies = workers.map(
    (w) =>
      new Promise<string>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`worker exited (${code}) before replying`)));
      }),
  );
  try {
    const deadline = Date.now() + 30_000;
    while (Atomics.load(ctl, 1) < plans.length) {
      if (Date.now() > deadline) throw new Error('workers did not start');
      await new Promise((r) => setTimeout(r, 5));
    }
    const perRound: Set<number>[] = [];
    for (let round = 1; round <= rounds; round++) {
      const seen = new Set<number>();
      Atomics.store(ctl, 0, round);
      Atomics.notify(ctl, 0);
      // Synchronous on purpose: the workers run on their own threads.
      while (Atomics.load(ctl, 2) < round * plans.length) {
        if (Date.now() > deadline) throw new Error(`workers did not finish round ${round}`);
        if (harvestConcurrently) for (const p of mem.dirty.fetchAndClear()) seen.add(p);
      }
      for (const p of mem.dirty.fetchAndClear()) seen.add(p);
      perRound.push(seen);
    }
    for (const reply of await Promise.all(replies)) assert.equal(reply, 'done');
    return perRound;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function assertEveryRound(perRound: Set<number>[], expected: number[]): void {
  const want = [...new Set(expected)].sort((a, b) => a - b);
  perRound.forEach((seen, i) => {
    if (seen.size !== want.length) {
      const missing = want.filter((p) => !seen.has(p));
      assert.fail(`round ${i + 1}: ${missing.length} page(s) lost, e.g. ${missing.slice(0, 5).join(', ')}`);
    }
    assert.deepEqual([...seen].sort((a, b) => a - b), want);
  });
}

describe('DirtyBitmap shared by worker threads', () => {
  const PAGES = 1024;
  const ROUNDS = 40;
  const all = Array.from({ length: PAGES }, (_, i) => i);
  const even = all.filter((p) => p % 2 === 0);
  const odd = all.filter((p) => p % 2 === 1);

  it('two workers marking disjoint pages of the same words lose no bit', async () => {
    const mem = GuestMemory.createAnonymous(PAGES * GUEST_PAGE_SIZE);
    assertEveryRound(await raceWorkers(mem, [{ pages: even }, { pages: odd }], ROUNDS, false), all);
  });

  it('two workers marking overlapping pages in opposite orders lose no bit', async () => {
    const mem = GuestMemory.createAnonymous(PAGES * GUEST_PAGE_SIZE);
    assertEveryRound(await raceWorkers(mem, [{ pages: all.slice(0, 768) }, { pages: all.slice(256).reverse() }], ROUNDS, false), all);
  });

  it('a harvest running concurrently with two marking workers loses no bit', async () => {
    const mem = GuestMemory.createAnonymous(PAGES * GUEST_PAGE_SIZE);
    assertEveryRound(await raceWorkers(mem, [{ pages: even }, { pages: odd }], ROUNDS, true), all);
  });

  it('partial page sets: the bitmap holds exactly the union of what the workers wrote', async () => {
    const mem = GuestMemory.createAnonymous(PAGES * GUEST_PAGE_SIZE);
    const a = all.filter((p) => p % 3 === 0);
    const b = all.filter((p) => p % 5 === 0);
    assertEveryRound(await raceWorkers(mem, [{ pages: a }, { pages: b }], 5, false), [...a, ...b]);
  });
});

/**
 * The destination against hostile streams: a valid vmig stream (built here
 * with the encoder, as the source writes it), then every truncation and
 * thousands of random byte mutations, fed through `-incoming file:`. Each
 * ends `completed` or `failed` with a message — never a throw, a hang, or a
 * guest started from a stream that did not reach a valid EOF.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';

import { GUEST_FIRMWARE_BUILD_ID, GUEST_RAM_LAYOUT_VERSION } from '../guest/index.js';
import type { Vcpu } from '../guest/index.js';
import { GuestMemory } from '../memory/index.js';
import { StreamEncoder } from '../stream/index.js';
import { saveState } from '../vmstate/index.js';
import { IncomingMigration } from './incoming.js';
import type { MigratableVm } from './migration-types.js';
import { PageScanner, allPages } from './ram-pages.js';
import { GUEST_SECTION_IDSTR, RAM_BLOCK_NAME, VCPU_SECTION_IDSTR, guestSectionVmsd, vcpuSectionVmsd } from './vmig-sections.js';

const RAM = 64 * 4096;
const dir = mkdtempSync(join(tmpdir(), 'vmig-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stream as a source writes it for a VM with 1 vCPU, 64 pages of RAM and no NIC. */
function validStream(): Uint8Array {
  const src = GuestMemory.createAnonymous(RAM);
  for (let p = 0; p < 64; p += 3) src.fill(p * 4096, 4096, p + 1);
  const enc = new StreamEncoder();
  enc.header().configuration({ machine: 'pc-q35-11.1' });
  const full = (id: number, idstr: string, vmsd: typeof guestSectionVmsd, state: Record<string, unknown>, instanceId = 0) => {
    enc.sectionHeader({ kind: 'full', sectionId: id, idstr, instanceId, version: 1 });
    saveState(enc.w, vmsd, state);
    enc.footer(id);
  };
  full(1, GUEST_SECTION_IDSTR, guestSectionVmsd, { firmwareBuildId: GUEST_FIRMWARE_BUILD_ID, ramLayoutVersion: GUEST_RAM_LAYOUT_VERSION, vcpuCount: 1, ramBytes: BigInt(RAM) });
  enc.sectionHeader({ kind: 'start', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 }).ramBlocks([{ idstr: RAM_BLOCK_NAME, usedLength: RAM }]).ramEos().footer(2);
  enc.sectionHeader({ kind: 'part', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 });
  new PageScanner(src).encode(enc, allPages(64), 0, 64);
  enc.ramEos().footer(2);
  enc.sectionHeader({ kind: 'end', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 }).ramEos().footer(2);
  full(10, VCPU_SECTION_IDSTR, vcpuSectionVmsd, { guestClockNs: 5_000_000n, irqPending: 0n });
  enc.eof();
  return enc.take();
}

/** A test double of the VM: RAM, one vCPU handle that records what it is told, no NIC. */
function fakeVm() {
  const memory = GuestMemory.createAnonymous(RAM);
  const seen = { started: 0, clock: undefined as bigint | undefined, log: [] as string[] };
  const vcpu = { index: 0, setGuestNowNs: (ns: bigint) => (seen.clock = ns), setPendingInterrupts: () => undefined } as unknown as Vcpu;
  const vm: MigratableVm = {
    memory,
    machineType: 'pc-q35-11.1',
    vcpus: [vcpu],
    nic: undefined,
    nicIdstr: '0000:00:02.0/virtio-net',
    earlyMigration: () => ({ enabled: false, policy: 'per-delta' }),
    stopForMigration: () => Promise.resolve(0),
    resumeAfterFailedMigration: () => undefined,
    migrationCompleted: () => undefined,
    startIncoming: () => void seen.started++,
    emitEvent: () => undefined,
    holdEvents: () => () => undefined,
    log: (line) => void seen.log.push(line),
  };
  return { vm, seen, memory };
}

let n = 0;
async function feed(bytes: Uint8Array) {
  const path = join(dir, `s${n++}.mig`);
  writeFileSync(path, bytes);
  const { vm, seen, memory } = fakeVm();
  const inc = new IncomingMigration(vm, { uri: { kind: 'file', path }, announce: { initial: 50, max: 550, rounds: 5, step: 100 }, events: () => false, recordDeviceState: () => false });
  await inc.start();
  const ok = await inc.done;
  inc.close();
  return { ok, status: inc.status, error: inc.error, seen, memory };
}

describe('the destination against hostile streams', () => {
  const good = validStream();

  test('the valid stream completes: RAM as sent, the clock restored, the guest started once', async () => {
    const r = await feed(good);
    assert.equal(r.ok, true, r.error);
    assert.equal(r.seen.started, 1);
    assert.equal(r.seen.clock, 5_000_000n);
    assert.equal(r.memory.readU8(3 * 4096 + 100), 4);
    assert.equal(r.memory.readU8(4 * 4096), 0);
  });

  test("the guest runs first, the bookkeeping after; a close in between still leaves the migration completed", async () => {
    for (const closeEarly of [false, true]) {
      const path = join(dir, `s${n++}.mig`);
      writeFileSync(path, good);
      const { vm, seen } = fakeVm();
      const inc = new IncomingMigration(vm, { uri: { kind: 'file', path }, announce: { initial: 50, max: 550, rounds: 5, step: 100 }, events: () => false, recordDeviceState: () => false });
      await inc.start();
      while (seen.started === 0) await new Promise((r) => setImmediate(r));
      assert.equal(inc.status, 'active', 'running, with the report and `completed` still to come');
      if (closeEarly) inc.close();
      assert.equal(await inc.done, true);
      assert.equal(inc.status, 'completed');
      inc.close();
    }
  });

  test('every truncation fails with a message and never starts the guest', async () => {
    for (let cut = 0; cut < good.length; cut += Math.max(1, Math.floor(good.length / 400))) {
      const r = await feed(good.subarray(0, cut));
      assert.equal(r.ok, false, `a stream cut at ${cut} of ${good.length} bytes completed`);
      assert.equal(r.seen.started, 0);
      assert.equal(r.status, 'failed');
      assert.ok(r.error && r.error.length > 10);
    }
  });

  test('random byte mutations: completed or failed with a message, never a throw; started only on completion', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (edits) => {
        const bytes = good.slice();
        for (const [at, v] of edits) bytes[at] = v;
        const r = await feed(bytes);
        assert.equal(r.seen.started, r.ok ? 1 : 0);
        if (!r.ok) assert.ok(r.error && r.error.length > 10, 'a failure says why');
      }),
      { numRuns: 300 },
    );
  });

  test('zero pages: one for a page the stream wrote before clears it; one for a page it never wrote is skipped (a destination\'s RAM is zero until the stream writes it, as QEMU\'s ram_handle_zero)', async () => {
    const src = GuestMemory.createAnonymous(RAM);
    src.fill(3 * 4096, 4096, 0x33);
    const enc = new StreamEncoder();
    enc.header().configuration({ machine: 'pc-q35-11.1' });
    enc.sectionHeader({ kind: 'full', sectionId: 1, idstr: GUEST_SECTION_IDSTR, instanceId: 0, version: 1 });
    saveState(enc.w, guestSectionVmsd, { firmwareBuildId: GUEST_FIRMWARE_BUILD_ID, ramLayoutVersion: GUEST_RAM_LAYOUT_VERSION, vcpuCount: 1, ramBytes: BigInt(RAM) });
    enc.footer(1);
    enc.sectionHeader({ kind: 'start', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 }).ramBlocks([{ idstr: RAM_BLOCK_NAME, usedLength: RAM }]).ramEos().footer(2);
    // Pass 1: page 3 with data; pass 2: page 3 cleared by the guest meanwhile, page 7 zero as before.
    enc.sectionHeader({ kind: 'part', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 });
    new PageScanner(src).encode(enc, Uint32Array.of(3, 7), 0, 2);
    enc.ramEos().footer(2);
    src.fill(3 * 4096, 4096, 0);
    enc.sectionHeader({ kind: 'end', sectionId: 2, idstr: 'ram', instanceId: 0, version: 4 });
    new PageScanner(src).encode(enc, Uint32Array.of(3, 7), 0, 2);
    enc.ramEos().footer(2);
    enc.sectionHeader({ kind: 'full', sectionId: 10, idstr: VCPU_SECTION_IDSTR, instanceId: 0, version: 1 });
    saveState(enc.w, vcpuSectionVmsd, { guestClockNs: 1n, irqPending: 0n });
    enc.footer(10);
    enc.eof();
    const path = join(dir, `s${n++}.mig`);
    writeFileSync(path, enc.take());
    const { vm, memory } = fakeVm();
    // A marker where RAM would be zero: only a write by the stream could change it.
    memory.fill(7 * 4096, 4096, 0xee);
    const inc = new IncomingMigration(vm, { uri: { kind: 'file', path }, announce: { initial: 50, max: 550, rounds: 5, step: 100 }, events: () => false, recordDeviceState: () => false });
    await inc.start();
    assert.equal(await inc.done, true, inc.error);
    inc.close();
    assert.deepEqual([memory.readU8(3 * 4096), memory.readU8(3 * 4096 + 4095)], [0, 0], 'page 3, written in pass 1, is zero again');
    assert.equal(memory.readU8(7 * 4096), 0xee, 'page 7, never written by the stream, was not touched');
  });

  test('semantic refusals come before any side effect', async () => {
    const bytes = Buffer.from(good);
    const at = bytes.indexOf('pc-q35-11.1');
    bytes.write('pc-q35-10.0', at);
    const r = await feed(new Uint8Array(bytes));
    assert.match(r.error!, /Machine type mismatch: the stream is for pc-q35-10\.0, this VM is pc-q35-11\.1/);
    assert.equal(r.memory.readU8(3 * 4096 + 100), 0, 'no page was written');
    assert.equal(r.seen.started, 0);
  });
});

/**
 * The guest kernel in a real vCPU worker over memfd guest RAM: first boot,
 * the admin channel, the memory workload verifying itself, detection of a
 * page migration would have lost, and resuming from a copy of RAM (what a
 * migration destination does).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { GuestMemory } from '../../memory/index.js';
import { Vcpu } from '../vcpu-handle.js';
import { ADMIN_DOORBELL, ADMIN_VECTOR, AdminChannelHost } from './admin-channel.js';
import type { KernelBootData } from './kernel.js';
import { BB_WORKLOAD_BASE, BOOT_BLOCK } from './ram-layout.js';

const kernelUrl = new URL('./kernel.js', import.meta.url);
const MiB = 1 << 20;

function boot(mem: GuestMemory, vcpuCount: number, resume: boolean, workloadBytes = 4 * MiB, clockNs?: bigint, dirtyRate = 50 * MiB) {
  const vcpus: Vcpu[] = [];
  let admin: AdminChannelHost | undefined;
  for (let i = 0; i < vcpuCount; i++) {
    const bootData: KernelBootData = { ram: mem.shared, vcpuCount, resume, config: { ip: '10.0.0.2', prefixLength: 24, udpEchoPort: 7777, workloadBytes, dirtyRateBytesPerSec: dirtyRate } };
    const v = new Vcpu({
      index: i,
      kernelUrl,
      bootData,
      mmio: () => 0n,
      onDoorbell: (mask) => {
        if (mask & (1n << BigInt(ADMIN_DOORBELL))) admin?.poll();
      },
      startPaused: clockNs !== undefined,
    });
    if (clockNs !== undefined) {
      v.setGuestNowNs(clockNs);
    }
    vcpus.push(v);
  }
  admin = new AdminChannelHost(mem, () => vcpus[0]!.raiseInterrupt(ADMIN_VECTOR));
  return { vcpus, admin, resumeAll: () => vcpus.forEach((v) => v.resume()) };
}

async function status(admin: AdminChannelHost): Promise<{ ready: boolean; bootCount: number; workload: { verified: number; errors: number; bytesWritten: number } }> {
  const r = await admin.request({ op: 'status' });
  assert.ok(r.ok, JSON.stringify(r));
  return r.result as never;
}

async function waitFor<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`not reached: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('guest kernel', () => {
  test('boots, answers status on the admin channel and refuses unknown ops', async () => {
    const mem = GuestMemory.create(16 * MiB);
    const { vcpus, admin } = boot(mem, 1, false, 0);
    try {
      const s = await status(admin);
      assert.equal(s.bootCount, 1);
      assert.equal(s.ready, true);
      const bad = await admin.request({ op: 'frobnicate' });
      assert.equal(bad.ok, false);
    } finally {
      await Promise.all(vcpus.map((v) => v.stop()));
    }
  });

  test('the memory workload on a second vCPU dirties memory at its rate and verifies with zero errors', async (t) => {
    const mem = GuestMemory.create(32 * MiB);
    const { vcpus, admin } = boot(mem, 2, false);
    try {
      mem.dirty.fetchAndClear();
      const t0 = Date.now();
      const s = await waitFor(() => status(admin), (v) => v.workload.bytesWritten >= 40 * MiB);
      const secs = (Date.now() - t0) / 1000;
      const dirtied = mem.dirty.fetchAndClear().count();
      t.diagnostic(`wrote ${(s.workload.bytesWritten / MiB).toFixed(1)} MiB in ${secs.toFixed(2)} s; ${s.workload.verified} pages verified; ${dirtied} pages dirty`);
      assert.equal(s.workload.errors, 0);
      assert.ok(s.workload.verified > 100);
      assert.ok(dirtied >= 1024, 'the whole 4 MiB region was marked dirty');
    } finally {
      await Promise.all(vcpus.map((v) => v.stop()));
    }
  });

  test('a page that holds stale contents (a lost migration write) is reported as an error', async () => {
    // No rewrites (dirty rate 0): the verifier alone walks the pages, so the
    // stale page cannot be repaired by the writer before it is checked.
    const mem = GuestMemory.create(32 * MiB);
    const { vcpus, admin } = boot(mem, 1, false, 4 * MiB, undefined, 0);
    try {
      await waitFor(() => status(admin), (v) => v.workload.verified >= 1024);
      assert.equal((await status(admin)).workload.errors, 0);
      await vcpus[0]!.pause();
      const base = mem.readU32(BOOT_BLOCK + BB_WORKLOAD_BASE);
      mem.writeU32(base + 17 * 4096 + 100, 0xdeadbeef);
      vcpus[0]!.resume();
      const s = await waitFor(() => status(admin), (v) => v.workload.errors > 0);
      assert.ok(s.workload.errors >= 1);
    } finally {
      await Promise.all(vcpus.map((v) => v.stop()));
    }
  });

  test('a copy of paused RAM resumes elsewhere: no re-initialisation, clock continues, zero errors', async () => {
    const src = GuestMemory.create(32 * MiB);
    const a = boot(src, 2, false);
    let guestNs: bigint;
    try {
      await waitFor(() => status(a.admin), (v) => v.workload.bytesWritten >= 8 * MiB);
      await Promise.all(a.vcpus.map((v) => v.pause()));
      guestNs = a.vcpus[0]!.guestNowNs();
    } finally {
      await Promise.all(a.vcpus.map((v) => v.stop()));
    }
    const dst = GuestMemory.create(32 * MiB);
    dst.write(0, src.bytes);
    const b = boot(dst, 2, true, 4 * MiB, guestNs);
    try {
      b.resumeAll();
      const before = await status(b.admin);
      assert.equal(before.bootCount, 2, 'resumed, not booted afresh');
      const s = await waitFor(() => status(b.admin), (v) => v.workload.bytesWritten >= before.workload.bytesWritten + 8 * MiB);
      assert.equal(s.workload.errors, 0);
      assert.ok(s.workload.verified > before.workload.verified);
    } finally {
      await Promise.all(b.vcpus.map((v) => v.stop()));
    }
  });
});

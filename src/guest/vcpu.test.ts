/**
 * The vCPU worker machinery with a probe kernel: pause/resume (and how long a
 * pause takes while the guest is busy), the guest clock across a pause,
 * interrupt delivery, synchronous MMIO, doorbells, stop.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Vcpu } from './vcpu-handle.js';
import type { MmioHandler } from './vcpu-handle.js';
import { RunState } from './vcpu-protocol.js';
import { processThreadIds } from '../host/testing/parked-thread.js';

const kernelUrl = new URL('./testing/probe-kernel.js', import.meta.url);

function start(mmio: MmioHandler = () => 0n, onDoorbell: (m: bigint) => void = () => undefined, startPaused = false): { vcpu: Vcpu; ram: Int32Array } {
  const sab = new SharedArrayBuffer(64);
  const vcpu = new Vcpu({ index: 0, kernelUrl, bootData: { ram: sab }, mmio, onDoorbell, startPaused });
  return { vcpu, ram: new Int32Array(sab) };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function command(ram: Int32Array, cmd: number, arg: number): Promise<void> {
  Atomics.store(ram, 3, arg);
  Atomics.store(ram, 2, cmd);
  await until(() => Atomics.load(ram, 2) === 0);
}

describe('vCPU worker', () => {
  test('runs the kernel, parks on pause (no slices while paused) and runs again on resume', async () => {
    const { vcpu, ram } = start();
    try {
      await until(() => Atomics.load(ram, 0) > 2);
      await vcpu.pause();
      assert.equal(vcpu.runState, RunState.Paused);
      const frozen = Atomics.load(ram, 0);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(Atomics.load(ram, 0), frozen, 'no slice ran while paused');
      vcpu.resume();
      await until(() => Atomics.load(ram, 0) > frozen);
      assert.equal(vcpu.runState, RunState.Running);
    } finally {
      await vcpu.stop();
    }
  });

  test('pause takes effect at the end of a busy guest\'s current slice', async (t) => {
    const { vcpu, ram } = start();
    try {
      Atomics.store(ram, 2, 4);
      await until(() => Atomics.load(ram, 0) > 10);
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await vcpu.pause();
        latencies.push(performance.now() - t0);
        vcpu.resume();
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.sort((a, b) => a - b);
      t.diagnostic(`pause latency under load: median ${latencies[10]!.toFixed(3)} ms, max ${latencies[19]!.toFixed(3)} ms`);
      assert.equal(latencies.length, 20);
      // The vCPU's own timing of the last pause is consistent with the VMM's view.
      const own = vcpu.lastPauseLatencyNs;
      assert.ok(own !== undefined && own >= 0n && Number(own) / 1e6 <= latencies[19]! + 1, `vCPU-timed pause ${own} ns`);
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(vcpu.lastResumeLatencyNs !== undefined, 'the vCPU recorded when it resumed');
    } finally {
      await vcpu.stop();
    }
  });

  test('the guest clock does not advance while the vCPU is paused', async () => {
    const { vcpu } = start();
    try {
      await vcpu.pause();
      const before = vcpu.guestNowNs();
      await new Promise((r) => setTimeout(r, 60));
      const during = vcpu.guestNowNs();
      assert.equal(during, before, 'frozen while paused');
      vcpu.resume();
      await new Promise((r) => setTimeout(r, 20));
      const after = vcpu.guestNowNs();
      assert.ok(after - before >= 15_000_000n && after - before < 50_000_000n, `advanced ${after - before} ns in ~20 ms of running`);
    } finally {
      await vcpu.stop();
    }
  });

  test('a guest clock set while paused (a migrated guest) continues from that time', async () => {
    const { vcpu, ram } = start(undefined, undefined, true);
    try {
      vcpu.setGuestNowNs(123_000_000_000n);
      vcpu.resume();
      await until(() => Atomics.load(ram, 0) > 1);
      const us = Atomics.load(ram, 6);
      const expected = Number((123_000_000_000n / 1000n) & 0x7fffffffn);
      assert.ok(us - expected >= 0 && us - expected < 200_000, `guest µs ${us} vs ${expected}`);
    } finally {
      await vcpu.stop();
    }
  });

  test('raised MSI-X vectors reach the kernel', async () => {
    const { vcpu, ram } = start();
    try {
      vcpu.raiseInterrupt(5);
      vcpu.raiseInterrupt(0);
      await until(() => Atomics.load(ram, 1) === 0b100001);
      assert.throws(() => vcpu.raiseInterrupt(64), RangeError);
    } finally {
      await vcpu.stop();
    }
  });

  test('MMIO reads and writes are served synchronously by the VMM, and a refused access reads all-ones', async () => {
    const seen: string[] = [];
    const mmio: MmioHandler = (op, addr, size, value) => {
      seen.push(`${op} 0x${addr.toString(16)}/${size}=${value.toString(16)}`);
      if (addr === 0xbadn) throw new Error('no such register');
      return 0xdeadbeefn;
    };
    const { vcpu, ram } = start(mmio);
    try {
      await command(ram, 1, 0x10);
      assert.equal(Atomics.load(ram, 4) >>> 0, 0xdeadbeef);
      await command(ram, 2, 0x20);
      await command(ram, 1, 0xbad);
      assert.equal(Atomics.load(ram, 4) >>> 0, 0xffffffff);
      assert.deepEqual(seen, ['read 0x10/4=0', 'write 0x20/4=1234', 'read 0xbad/4=0']);
    } finally {
      await vcpu.stop();
    }
  });

  test('doorbells reach the VMM with the queue bit set', async () => {
    const rung: bigint[] = [];
    const { vcpu, ram } = start(undefined, (m) => rung.push(m));
    try {
      await command(ram, 3, 3);
      await until(() => rung.length > 0);
      assert.equal(rung[0], 8n);
    } finally {
      await vcpu.stop();
    }
  });

  test('stop ends the worker thread', async () => {
    const { vcpu } = start();
    await vcpu.stop();
    assert.equal(await vcpu.exited, 0);
    assert.equal(vcpu.runState, RunState.Stopped);
  });
});

describe('vCPU thread id', () => {
  test('the vCPU reports its own Linux thread id: a thread of this process, not the main one', async () => {
    const { vcpu, ram } = start();
    try {
      await until(() => Atomics.load(ram, 0) > 0 && vcpu.threadId !== undefined);
      const tid = vcpu.threadId!;
      assert.notEqual(tid, process.pid);
      assert.ok(processThreadIds().includes(tid), `${tid} is one of this process's threads`);
    } finally {
      await vcpu.stop();
    }
  });
});

describe('vCPU control block layout', () => {
  test('no two fields share a word (64-bit fields cover words 2i and 2i+1)', async () => {
    const p = await import('./vcpu-protocol.js');
    const words = new Map<number, string>();
    const claim = (w: number, name: string) => {
      assert.ok(!words.has(w), `${name} overlaps ${words.get(w)} at word ${w}`);
      assert.ok(w < p.CONTROL_BLOCK_BYTES / 4, `${name} beyond the block`);
      words.set(w, name);
    };
    for (const [name, w, n] of [['RUN_STATE', p.RUN_STATE, 1], ['WAKE_SEQ', p.WAKE_SEQ, 1], ['IRQ_PENDING', p.IRQ_PENDING, 2], ['DOORBELL_SEQ', p.DOORBELL_SEQ, 1], ['DOORBELL_BITS', p.DOORBELL_BITS, 2], ['MMIO_STATE', p.MMIO_STATE, 1], ['MMIO_OP', p.MMIO_OP, 1], ['MMIO_SIZE', p.MMIO_SIZE, 1], ['MMIO_ERROR', p.MMIO_ERROR, 1], ['THREAD_ID', p.THREAD_ID, 1]] as const) {
      for (let i = 0; i < n; i++) claim(w + i, name);
    }
    for (const [name, i] of [['MMIO_ADDR64', p.MMIO_ADDR64], ['MMIO_VALUE64', p.MMIO_VALUE64], ['CLOCK_OFFSET64', p.CLOCK_OFFSET64], ['SLICE_COUNT64', p.SLICE_COUNT64], ['PARKED_AT64', p.PARKED_AT64], ['RESUMED_AT64', p.RESUMED_AT64]] as const) {
      claim(2 * i, name);
      claim(2 * i + 1, name);
    }
  });
});

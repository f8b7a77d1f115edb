/**
 * Issue #4 acceptance, in a private network namespace: two VMMs with 4
 * queue pairs, 256 MiB and the memory workload dirtying 50 MB/s migrate back
 * and forth 20 times over tcp while a UDP probe runs every 10 ms. After each
 * migration the guest's memory verification reports zero errors, the probe
 * resumes, and the virtio-net state the source saved at the stop equals,
 * field by field, what the destination's device holds after the load.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { UdpProbe } from '../src/host/index.js';
import type { VmSpec } from '../src/cli/vm-process.js';
import { cpuLatencyGrantable, holdsCpuLatencyRequest } from './support/cpu-latency.js';
import { netnsUnavailableReason } from './support/netns.js';
import { VmLab, assertGuestVerifies } from './support/vm-lab.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# migration-integration skipped: ${skip}`);

const ROUNDS = 20;

/** A process's main thread's nice value (/proc/PID/stat, field 19). */
function eventLoopNice(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}
const WORKLOAD = { size: '64M', dirtyRate: '50M' };
const PARAMS = { 'downtime-limit': 30, 'max-bandwidth': 1 << 30 };

describe('20 live migrations back and forth over tcp', { skip }, () => {
  let lab: VmLab;
  const startVm = (name: string, tap: string, extra: Partial<VmSpec> = {}) => lab.start(name, tap, extra);

  before(() => {
    lab = new VmLab('vmig-mig', { workload: WORKLOAD });
  });

  after(() => lab?.close());

  test('every migration completes; zero verification errors, the probe resumes, device state equal field by field', async (t) => {
    let cur = await startVm('vm0', 'tapa');
    await cur.waitReady();
    const probe = UdpProbe.start(lab.ns, lab.ns.guest, 7777, 10);
    const rows: string[] = [];
    try {
      // The probe process starts in the namespace first (slow under a loaded machine).
      for (let k = 0; ; k++) {
        await new Promise((r) => setTimeout(r, 250));
        if ((await probe.mark()).received > 0) break;
        assert.ok(k < 40, 'the probe is answered before the first migration');
      }
      for (let i = 0; i < ROUNDS; i++) {
        const tap = i % 2 === 0 ? 'tapb' : 'tapa';
        const port = 4400 + i;
        const next = await startVm(`vm${i + 1}`, tap, { incoming: `tcp:127.0.0.1:${port}` });
        await next.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
        const before = await cur.guestStatus();
        await probe.mark();
        // The last migration asks nothing of the host (x-vmig-cpu-latency -1, on both sides).
        const noRequest = i === ROUNDS - 1;
        if (noRequest) await next.qmp.execute('migrate-set-parameters', { 'x-vmig-cpu-latency': -1 });
        const out = await cur.migrate(`tcp:127.0.0.1:${port}`, { parameters: noRequest ? { ...PARAMS, 'x-vmig-cpu-latency': -1 } : PARAMS });
        const completedAt = Date.now();
        assert.equal(out.status, 'completed', `migration ${i + 1}: ${JSON.stringify(out.info)}\n${cur.log}\n${next.log}`);
        assert.deepEqual(await cur.qmp.execute('query-status'), { status: 'postmigrate', running: false, singlestep: false });
        assert.deepEqual(await next.qmp.execute('query-status'), { status: 'running', running: true, singlestep: false });

        const sent = ((await cur.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
        const loaded = ((await next.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
        assert.ok(sent && loaded, 'both sides recorded the device state');
        assert.deepEqual(loaded, sent, `migration ${i + 1}: the destination's virtio-net state differs from the source's`);
        // The switchover's raised priority (switchover-priority.ts) is back to normal on both sides.
        assert.deepEqual([eventLoopNice(cur.pid), eventLoopNice(next.pid)], [0, 0], `migration ${i + 1}: the event-loop threads' nice values after the switchover`);
        // Both sides asked the host for polling idle CPUs (granted as root), and dropped the request at the end.
        const xv = out.info['x-vmig'] as { 'cpu-latency'?: unknown; destination: { cpuLatency?: unknown } };
        const asked = noRequest ? undefined : { 'requested-us': 0, held: cpuLatencyGrantable() };
        assert.deepEqual([xv['cpu-latency'], xv.destination.cpuLatency], [asked, asked], `migration ${i + 1}: the CPU latency requests`);
        assert.deepEqual([holdsCpuLatencyRequest(cur.pid), holdsCpuLatencyRequest(next.pid)], [false, false], `migration ${i + 1}: a CPU latency request outlived its migration`);
        assert.equal(await cur.quit(), 0);

        // The guest carries on: its verifier keeps checking pages and finds no stale one.
        const s0 = await next.guestStatus();
        assert.ok(s0.workload!.verified >= before.workload!.verified, 'verification count continues from the source');
        await assertGuestVerifies(next, `migration ${i + 1}`, 50, 200);
        // Probes are judged 250 ms after they are sent: wait until those of the switchover are.
        await new Promise((r) => setTimeout(r, Math.max(0, completedAt + 600 - Date.now())));
        const during = await probe.mark();
        await new Promise((r) => setTimeout(r, 500));
        const settled = await probe.mark();
        assert.ok(settled.received >= 20 && settled.lost === 0, `migration ${i + 1}: the probe did not resume: ${JSON.stringify(settled)}`);
        const info = out.info as { downtime: number; 'total-time': number; 'x-vmig': { 'downtime-phases': Record<string, number> } };
        rows.push(`${String(i + 1).padStart(2)}  downtime ${String(info.downtime).padStart(4)} ms  total ${String(info['total-time']).padStart(5)} ms  probe gap ${during.maxGapMs} ms  lost ${during.lost}  phases ${JSON.stringify(info['x-vmig']['downtime-phases'])}`);
        cur = next;
      }
    } finally {
      await probe.stop().catch(() => undefined);
      for (const row of rows) t.diagnostic(row);
    }
    const final = await cur.guestStatus();
    assert.equal(final.workload!.errors, 0);
    assert.equal(await cur.quit(), 0);
  });
});

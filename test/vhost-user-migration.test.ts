/**
 * Live migration with the datapath in `vmig vhost-user-net` processes (one
 * per VMM, each serving its VMM's TAP), in a private namespace with the UDP
 * probe: the RFC's own regime. Classic and early migrations alternate; after
 * each the guest's memory verifies (the backend's writes into guest RAM
 * reached pre-copy through the dirty log), the probe resumes, and the
 * destination's device holds the state the source saved. Then a failure
 * after the stop: the destination's backend dies, the switchover's commit
 * fails, and the source restarts its own rings and carries on.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { UdpProbe } from '../src/host/index.js';
import type { VmProcess } from '../src/cli/vm-process.js';
import { netnsUnavailableReason } from './support/netns.js';
import { VmLab, assertGuestVerifies } from './support/vm-lab.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# vhost-user-migration skipped: ${skip}`);

const DEVICE = '/machine/peripheral-anon/device[0]';
const PARAMS = { 'downtime-limit': 30, 'max-bandwidth': 1 << 30 };

async function probeResumes(probe: UdpProbe, what: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 600));
  await probe.mark();
  await new Promise((r) => setTimeout(r, 500));
  const settled = await probe.mark();
  assert.ok(settled.received >= 20 && settled.lost === 0, `${what}: the probe did not resume: ${JSON.stringify(settled)}`);
}

describe('live migration with vhost-user backends', { skip }, () => {
  let lab: VmLab;
  let probe: UdpProbe;
  let cur: VmProcess;
  let step = 0;

  before(async () => {
    lab = new VmLab('vmig-vum', { workload: { size: '64M', dirtyRate: '50M' }, vhostUser: true, queues: 4 });
    cur = await lab.start('vm0', 'vua');
    await cur.waitReady();
    probe = UdpProbe.start(lab.ns, lab.ns.guest, 7777, 10);
    for (let k = 0; ; k++) {
      await new Promise((r) => setTimeout(r, 250));
      if ((await probe.mark()).received > 0) break;
      assert.ok(k < 40, `the guest answers the probe through vmig vhost-user-net\n${cur.log}\n${JSON.stringify(await cur.guestStatus())}`);
    }
  });

  after(async () => {
    await probe?.stop().catch(() => undefined);
    lab?.close();
  });

  test('classic and early migrations alternate: each completes, the guest verifies, the probe resumes, the state is equal', async (t) => {
    for (const early of [false, true, false, true]) {
      step++;
      const tap = step % 2 === 1 ? 'vub' : 'vua';
      const next = await lab.start(`vm${step}`, tap, { incoming: `tcp:127.0.0.1:${4600 + step}` });
      await next.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
      await cur.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig', value: early });
      await probe.mark();
      const out = await cur.migrate(`tcp:127.0.0.1:${4600 + step}`, { parameters: PARAMS });
      assert.equal(out.status, 'completed', `migration ${step}: ${JSON.stringify(out.info)}\n${cur.log}\n${next.log}`);
      const info = out.info as { downtime: number; 'x-vmig': Record<string, unknown> & { 'downtime-phases': Record<string, number> } };
      const earlyInfo = info['x-vmig']['early-mig'] as { used?: boolean } | undefined;
      assert.equal(earlyInfo?.used ?? false, early, `migration ${step}: early-mig used`);
      const sent = ((await cur.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
      const loaded = ((await next.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
      assert.deepEqual(loaded, sent, `migration ${step}: the destination's virtio-net state differs from the source's`);
      assert.equal(await cur.quit(), 0);
      await assertGuestVerifies(next, `migration ${step}`, 50, 200);
      await probeResumes(probe, `migration ${step}`);
      t.diagnostic(`${early ? 'early  ' : 'classic'} downtime ${info.downtime} ms, phases ${JSON.stringify(info['x-vmig']['downtime-phases'])}`);
      cur = next;
    }
  });

  test('the guest re-lays its rings, then renegotiates, during pre-copy: the destination restarts the backend it prepared early with the final rings', async (t) => {
    for (const [what, op, changed] of [
      ['ring re-init', { op: 'reprobe', 'ring-size': 128 }, 'vq'],
      ['renegotiation', { op: 'reprobe', 'features-off': ['guest_announce'] }, 'transport'],
    ] as const) {
      step++;
      const tap = step % 2 === 1 ? 'vub' : 'vua';
      const port = 4600 + step;
      const next = await lab.start(`vm${step}`, tap, { incoming: `tcp:127.0.0.1:${port}` });
      await next.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
      await next.qmp.execute('trace-event-set-state', { name: 'vhost_user_*', enable: true });
      await cur.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig', value: true });
      await cur.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig-policy', value: 'per-delta' });
      const source = cur;
      const out = await source.migrate(`tcp:127.0.0.1:${port}`, {
        parameters: { 'downtime-limit': 30, 'max-bandwidth': 4 << 20 },
        onActive: async () => {
          await source.qmp.execute('x-vmig-guest', op);
          await source.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1 << 30 });
        },
      });
      assert.equal(out.status, 'completed', `${what}: ${JSON.stringify(out.info)}\n${source.log}\n${next.log}`);
      const early = (out.info['x-vmig'] as { 'early-mig': { changed: string[] } })['early-mig'];
      assert.ok(early.changed.includes(changed), `${what}: changed ${early.changed.join(', ')}`);
      const sent = ((await source.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
      const loaded = ((await next.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
      assert.deepEqual(loaded, sent, `${what}: the destination's virtio-net state differs from the source's`);
      // The destination prepared the rings of the early section, then (a new layout) stopped them and started anew.
      const names = ((await next.qmp.execute('x-vmig-query-trace')) as { events: { name: string }[] }).events.map((e) => e.name);
      const restart = names.indexOf('vhost_user_stopped');
      assert.ok(names[0] === 'vhost_user_prepared' && restart > 0, `${what}: an early prepare, then a stop: ${names.join(' ')}`);
      assert.deepEqual(names.slice(restart, restart + 3), ['vhost_user_stopped', 'vhost_user_prepared', 'vhost_user_committed'], `${what}: ${names.join(' ')}`);
      assert.equal(await source.quit(), 0);
      await assertGuestVerifies(next, what, 50, 200);
      await probeResumes(probe, what);
      t.diagnostic(`${what}: changed ${early.changed.join(', ')}`);
      cur = next;
    }
  });

  test('QMP stop stops the backend’s rings (the stopped guest’s RAM stays still); cont starts them again', async () => {
    await cur.qmp.execute('trace-event-set-state', { name: 'vhost_user_*', enable: true });
    await cur.qmp.execute('x-vmig-query-trace');
    const names = async () => ((await cur.qmp.execute('x-vmig-query-trace')) as { events: { name: string }[] }).events.map((e) => e.name);
    // cont on a running VM changes nothing (its rings keep running where they are).
    await cur.qmp.execute('cont');
    assert.deepEqual(await names(), []);
    await cur.qmp.execute('stop');
    assert.deepEqual(await names(), ['vhost_user_stopped']);
    await cur.qmp.execute('cont');
    await new Promise((r) => setTimeout(r, 200));
    // cont waits for the memory table's ack (as QEMU), writes the rest, and the backend acknowledges it all after.
    assert.deepEqual(await names(), ['vhost_user_prepared', 'vhost_user_committed', 'vhost_user_applied']);
    assert.deepEqual(await cur.qmp.execute('query-status'), { status: 'running', running: true, singlestep: false });
    await probeResumes(probe, 'after stop and cont');
  });

  test('the destination’s backend dies before the switchover: the migration fails and the source’s guest keeps its network', async () => {
    step++;
    const tap = step % 2 === 1 ? 'vub' : 'vua';
    const next = await lab.start(`vm${step}`, tap, { incoming: `tcp:127.0.0.1:${4600 + step}` });
    await cur.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig', value: true });
    const out = await cur.migrate(`tcp:127.0.0.1:${4600 + step}`, {
      // Slow pre-copy, so the backend is gone before the stop; then full speed.
      parameters: { 'downtime-limit': 30, 'max-bandwidth': 8 << 20 },
      onActive: async () => {
        await new Promise((r) => setTimeout(r, 300));
        process.kill(next.backendPid!, 'SIGKILL');
        await cur.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1 << 30 });
      },
    });
    assert.equal(out.status, 'failed', JSON.stringify(out.info));
    assert.match(String(out.info['error-desc']), /vhost-user/);
    assert.equal(await next.exited, 1, 'the destination exits as QEMU does after a failed incoming migration');
    assert.deepEqual(await cur.qmp.execute('query-status'), { status: 'running', running: true, singlestep: false });
    await assertGuestVerifies(cur, 'after the failed migration', 50, 200);
    await probeResumes(probe, 'after the failed migration');
  });
});

/**
 * Issue #5 in a private namespace: early virtio-net migration between two
 * vmig processes. The early section goes in the setup phase; a change the
 * guest makes after it (through the admin channel, during a slowed
 * pre-copy) is found at the stop and resynced alone under per-delta, by a
 * full reload under rfc; the destination ends with the source's device state
 * field by field and the guest keeps working. A destination with early-mig
 * off negotiates the migration down to the classic path. On every path the
 * announce runs once (exactly announce-rounds host-side RARPs on the
 * bridge). Machine-type defaults and overrides reach qom-get.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { VmProcess, VmSpec } from '../src/cli/vm-process.js';
import { netnsUnavailableReason } from './support/netns.js';
import type { TestNetns } from './support/netns.js';
import { VmLab, assertGuestVerifies } from './support/vm-lab.js';
import { repoRoot } from './support/paths.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# early-migration skipped: ${skip}`);

interface EarlyInfo {
  used: boolean;
  policy: string;
  'negotiated-down'?: string;
  'early-bytes'?: number;
  'delta-bytes'?: number;
  changed?: string[];
  'full-reload'?: boolean;
  'destination-setup-load-ms'?: number;
  'destination-downtime-load-ms'?: number;
}

describe('early virtio-net migration between two VMMs', { skip, concurrency: false }, () => {
  let lab: VmLab;
  let ns: TestNetns;
  let n = 0;

  before(() => {
    lab = new VmLab('vmig-early', { workload: { size: '16M', dirtyRate: '2M' } });
    ns = lab.ns;
  });

  after(() => lab?.close());

  function startVm(extra: Partial<VmSpec> = {}): Promise<VmProcess> {
    n++;
    return lab.start(`vm${n}`, `tape${n}`, extra);
  }

  /** Counts the host-side RARPs (ethertype 0x8035) from the guest's MAC seen on the bridge. */
  async function countRarps(seconds: number): Promise<() => Promise<number>> {
    const child = ns.spawn('python3', [join(repoRoot, 'test', 'support', 'count-frames.py'), 'br0', '8035', '52:54:00:12:34:56', String(seconds)]);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (let i = 0; !out.includes('ready'); i++) {
      assert.ok(i < 200, 'the frame counter did not start');
      await new Promise((r) => setTimeout(r, 10));
    }
    return async () => {
      await exited;
      return Number(out.trim().split('\n').pop());
    };
  }

  async function migrate(src: VmProcess, dstExtra: Partial<VmSpec>, during?: () => Promise<void>) {
    const port = 5500 + n;
    const dst = await startVm({ ...dstExtra, incoming: `tcp:127.0.0.1:${port}` });
    const rarps = await countRarps(during ? 8 : 4);
    await dst.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
    await src.qmp.execute('migrate-set-capabilities', { capabilities: ['events', 'return-path'].map((c) => ({ capability: c, state: true })) });
    await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': during ? 4 << 20 : 1 << 30, 'downtime-limit': 300 });
    const mark = src.qmp.eventMark();
    await src.qmp.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    if (during) {
      await src.qmp.waitForEvent('MIGRATION', { since: mark, predicate: (e) => (e.data as { status: string }).status === 'active' });
      await during();
      await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1 << 30 });
    }
    const ev = await src.qmp.waitForEvent('MIGRATION', { since: mark, timeoutMs: 60_000, predicate: (e) => ['completed', 'failed'].includes((e.data as { status: string }).status) });
    const info = (await src.qmp.execute('query-migrate')) as Record<string, unknown> & { 'x-vmig': Record<string, unknown> };
    assert.equal((ev.data as { status: string }).status, 'completed', JSON.stringify(info));
    const sent = ((await src.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
    const loaded = ((await dst.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
    assert.deepEqual(loaded, sent, "the destination's virtio-net state differs from the source's");
    const events = src.qmp.eventsSince(mark).filter((e) => e.event === 'X_VMIG_EARLY_MIGRATION').map((e) => e.data);
    await src.quit();
    // The guest keeps working on the destination: its verifier advances, clean.
    await assertGuestVerifies(dst, 'after the migration');
    assert.match(ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', ns.guest]), /2 received/);
    // The announce ran once: announce-rounds (5) RARPs, not twice that (QEMU's defaults, 50/550/5/100 ms).
    assert.equal(await rarps(), 5, 'host-side RARPs after the switchover');
    return { dst, early: info['x-vmig']['early-mig'] as EarlyInfo, netDowntimeMs: info['x-vmig']['destination-net-downtime-ms'] as number, events };
  }

  test('machine-type defaults and overrides of early-mig, as qom-get reads them', async () => {
    const path = '/machine/peripheral-anon/device[0]';
    for (const [machine, extra, early, policy] of [
      ['q35', {}, true, 'per-delta'],
      ['pc-q35-10.2', {}, true, 'rfc'],
      // Older machines carry every newer compat array: 10.1 also gets 10.2's rfc.
      ['pc-q35-10.1', {}, false, 'rfc'],
      ['pc-q35-10.1', { deviceExtra: 'early-mig=on' }, true, 'rfc'],
      ['q35', { deviceExtra: 'early-mig=off' }, false, 'per-delta'],
    ] as const) {
      const vm = await startVm({ machine, ...extra });
      assert.equal(await vm.qmp.execute('qom-get', { path, property: 'early-mig' }), early, `${machine} ${JSON.stringify(extra)}`);
      assert.equal(await vm.qmp.execute('qom-get', { path, property: 'early-mig-policy' }), policy, machine);
      await vm.quit();
    }
  });

  let baselineNet = NaN;

  test('early-mig off: the classic path, and the destination\'s virtio-net work inside the downtime', async () => {
    const src = await startVm({ deviceExtra: 'early-mig=off' });
    await src.waitReady();
    const r = await migrate(src, { deviceExtra: 'early-mig=off' });
    assert.equal(r.early.used, false);
    assert.equal(r.early['negotiated-down'], 'early-mig is off on the source');
    baselineNet = r.netDowntimeMs;
    await r.dst.quit();
  });

  test('nothing changed: only the minimal state at the stop, no reload, far less destination work inside the downtime', async (t) => {
    const src = await startVm();
    await src.waitReady();
    const r = await migrate(src, {});
    assert.equal(r.early.used, true);
    assert.equal(r.early.policy, 'per-delta');
    assert.deepEqual(r.early.changed, []);
    assert.equal(r.early['full-reload'], false);
    assert.ok(r.early['early-bytes']! > 40_000, 'the whole device state went early');
    // FULL header (type, id, idstr, instance, version) + body (policy, mask, reload, queue count,
    // 9 ring indices, ISR, PBA length + 2 bytes, 4 INTx words, payload length) + footer.
    const header = 1 + 4 + 1 + '0000:00:02.0/virtio-net-delta'.length + 4 + 4;
    assert.equal(r.early['delta-bytes'], header + (1 + 4 + 1 + 4 + 9 * 2 + 1 + 4 + 2 + 16 + 4) + 5, 'the delta holds only the minimal state');
    assert.deepEqual(r.events, [{ status: 'used', policy: 'per-delta' }]);
    t.diagnostic(`destination virtio-net work inside the downtime: early-mig off ${baselineNet.toFixed(3)} ms, early per-delta ${r.netDowntimeMs.toFixed(3)} ms (${(baselineNet / r.netDowntimeMs).toFixed(1)}×); setup-phase load ${r.early['destination-setup-load-ms']} ms`);
    await r.dst.quit();
  });

  for (const [machine, policy] of [['q35', 'per-delta'], ['pc-q35-10.2', 'rfc']] as const) {
    test(`${policy}: a VLAN the guest adds after the early section is found and resynced`, async () => {
      const src = await startVm({ machine });
      await src.waitReady();
      const r = await migrate(src, { machine }, async () => {
        await src.qmp.execute('x-vmig-guest', { op: 'add-vlan', id: 42, ip: '192.168.42.2/24' });
      });
      assert.equal(r.early.used, true);
      assert.equal(r.early.policy, policy);
      assert.deepEqual(r.early.changed, ['vlan']);
      assert.equal(r.early['full-reload'], policy === 'rfc');
      const filter = ((await r.dst.qmp.execute('query-rx-filter')) as { 'vlan-table': number[] }[])[0]!;
      assert.ok(filter['vlan-table'].includes(42), 'the VLAN is in the destination\'s filter');
      await r.dst.quit();
    });
  }

  test('per-delta, category by category: each change the guest makes mid-migration is found and resynced alone, without a full reload', async (t) => {
    // One guest, one migration per change; each destination becomes the next source.
    const steps: [string, Record<string, unknown>, string[]][] = [
      ['MAC table', { op: 'add-mcast', mac: '01:00:5e:00:00:fb' }, ['mac-table']],
      ['rx filter', { op: 'set-rx-mode', allmulti: true }, ['rx-filter']],
      ['MAC', { op: 'set-mac', mac: '52:54:00:12:34:57' }, ['mac']],
      ['guest offloads', { op: 'set-offloads', tso4: false }, ['offloads-mq']],
      // Fewer pairs also shortens tx_waiting (one entry per active pair).
      ['queue pairs', { op: 'set-queues', pairs: 2 }, ['offloads-mq', 'pending-tx']],
      ['RSS', { op: 'set-rss', indirection: [0, 1, 0, 1, 0, 1, 0, 1] }, ['rss']],
    ];
    // RSS is offered only with rss=on (both sides: the features must match).
    let src = await startVm({ deviceExtra: 'rss=on' });
    await src.waitReady();
    for (const [what, op, expected] of steps) {
      const cur = src;
      const r = await migrate(cur, { deviceExtra: 'rss=on' }, async () => {
        await cur.qmp.execute('x-vmig-guest', op);
      });
      assert.equal(r.early.used, true, what);
      assert.deepEqual(r.early.changed, expected, what);
      assert.equal(r.early['full-reload'], false, `${what}: no full reload under per-delta`);
      t.diagnostic(`${what}: changed ${r.early.changed!.join(', ')}; delta ${r.early['delta-bytes']} bytes; destination work in the downtime ${r.netDowntimeMs.toFixed(2)} ms`);
      src = r.dst;
    }
    const filter = ((await src.qmp.execute('query-rx-filter')) as Record<string, unknown>[])[0]!;
    assert.equal(filter['main-mac'], '52:54:00:12:34:57');
    assert.equal(filter['multicast'], 'all', 'allmulti, set mid-migration');
    assert.deepEqual(filter['multicast-table'], ['01:00:5e:00:00:fb']);
    await src.quit();
  });

  test('a destination with early-mig off negotiates down to the classic path, and says so', async () => {
    const src = await startVm();
    await src.waitReady();
    const r = await migrate(src, { deviceExtra: 'early-mig=off' });
    assert.equal(r.early.used, false);
    assert.equal(r.early['negotiated-down'], 'early-mig is off on the destination');
    assert.deepEqual(r.events, [{ status: 'negotiated-down', reason: 'early-mig is off on the destination' }]);
    await r.dst.quit();
  });
});

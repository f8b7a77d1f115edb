/**
 * Issue #5 in a private namespace: early virtio-net migration between two
 * vmig processes. The early section goes in the setup phase and the
 * destination loads it into its device provisionally; a change the guest (or
 * the host) makes after it, during a slowed pre-copy, is found at the stop
 * and applied alone by its category's handler under per-delta, by a full
 * reload under rfc — each of the eleven categories under both policies, one
 * guest chained through the migrations. The destination ends with the
 * source's device state field by field and the guest keeps working. A
 * renegotiation during pre-copy (a transport change) reloads in full under
 * per-delta too, with the exact set of categories it brings. A set_link on
 * the destination during its incoming migration does not survive the load
 * (classic and early). A destination with early-mig off negotiates the
 * migration down to the classic path. On every path the announce runs once
 * (exactly announce-rounds host-side RARPs on the bridge). Machine-type
 * defaults and overrides reach qom-get.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { VmProcess, VmSpec } from '../src/cli/vm-process.js';
import { netnsUnavailableReason } from './support/netns.js';
import type { TestNetns } from './support/netns.js';
import { VmLab, assertGuestVerifies, countGuestFrames } from './support/vm-lab.js';

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

  /** The host-side RARPs (ethertype 0x8035) from the guest's MAC seen on the bridge, until `stop()`. */
  const countRarps = () => countGuestFrames(ns, 'br0', '8035');

  /** Until the destination holds the early section (loaded provisionally): its query-migrate says so. */
  async function earlyLoaded(dst: VmProcess): Promise<void> {
    for (let i = 0; ; i++) {
      const info = (await dst.qmp.execute('query-migrate')) as { 'x-vmig'?: { 'early-mig'?: { 'early-loaded'?: boolean } } };
      if (info['x-vmig']?.['early-mig']?.['early-loaded']) return;
      assert.ok(i < 1000, 'the destination did not load the early section');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** QMP set_link on a destination during its incoming migration: in QEMU the load's (the source's) link state wins. */
  const destinationLinkDown = (dst: VmProcess) => dst.qmp.execute('set_link', { name: 'n0', up: false }).then(() => undefined);

  /** The guest's own view of its link (the status it last read from its config space). */
  const guestLink = async (vm: VmProcess) => ((await vm.guestStatus()).net as { link: boolean }).link;

  /** The announce rounds (QEMU's defaults 50/550/5/100 ms) end 1.25 s after the switchover; a second run would too. */
  const ANNOUNCE_WINDOW_MS = 1800;

  interface MigrateOptions {
    /** Run on the destination once it listens, before the migration starts (no section has arrived). */
    beforeMigrate?: (dst: VmProcess) => Promise<void>;
    /** early-mig-policy on the source's device for this migration (qom-set). */
    policy?: 'rfc' | 'per-delta';
    /** Host-side RARPs expected after the switchover (0 with the link down). */
    rarps?: number;
    /** The guest answers ping afterwards (not with the link down). */
    ping?: boolean;
    /** Run on the destination once the announce rounds are over, before the guest is checked. */
    after?: (dst: VmProcess) => Promise<void>;
  }

  /** `during` runs once the migration is active, with the pre-copy slowed to 4 MB/s. */
  async function migrate(src: VmProcess, dstExtra: Partial<VmSpec>, during?: (dst: VmProcess) => Promise<void>, o: MigrateOptions = {}) {
    const port = 5500 + n;
    const dst = await startVm({ ...dstExtra, incoming: `tcp:127.0.0.1:${port}` });
    await o.beforeMigrate?.(dst);
    const rarps = await countRarps();
    await dst.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
    if (o.policy) await src.qmp.execute('qom-set', { path: '/machine/peripheral-anon/device[0]', property: 'early-mig-policy', value: o.policy });
    await src.qmp.execute('migrate-set-capabilities', { capabilities: ['events', 'return-path'].map((c) => ({ capability: c, state: true })) });
    await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': during ? 4 << 20 : 1 << 30, 'downtime-limit': 300 });
    const mark = src.qmp.eventMark();
    await src.qmp.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    if (during) {
      await src.qmp.waitForEvent('MIGRATION', { since: mark, predicate: (e) => (e.data as { status: string }).status === 'active' });
      await during(dst);
      await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1 << 30 });
    }
    const ev = await src.qmp.waitForEvent('MIGRATION', { since: mark, timeoutMs: 60_000, predicate: (e) => ['completed', 'failed'].includes((e.data as { status: string }).status) });
    const completedAt = Date.now();
    const info = (await src.qmp.execute('query-migrate')) as Record<string, unknown> & { 'x-vmig': Record<string, unknown> };
    assert.equal((ev.data as { status: string }).status, 'completed', JSON.stringify(info));
    const sent = ((await src.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
    const loaded = ((await dst.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
    assert.deepEqual(loaded, sent, "the destination's virtio-net state differs from the source's");
    const events = src.qmp.eventsSince(mark).filter((e) => e.event === 'X_VMIG_EARLY_MIGRATION').map((e) => e.data);
    await src.quit();
    // The announce ran once: announce-rounds (5) RARPs, not twice that.
    await new Promise((r) => setTimeout(r, Math.max(0, completedAt + ANNOUNCE_WINDOW_MS - Date.now())));
    assert.equal(await rarps(), o.rarps ?? 5, 'host-side RARPs after the switchover');
    // After the announce rounds: each round also asks the guest to announce (and read its config).
    await o.after?.(dst);
    // The guest keeps working on the destination: its verifier advances, clean.
    await assertGuestVerifies(dst, 'after the migration');
    if (o.ping ?? true) assert.match(ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', ns.guest]), /2 received/);
    return { dst, early: info['x-vmig']['early-mig'] as EarlyInfo, netDowntimeMs: info['x-vmig']['destination-net-downtime-ms'] as number, destination: info['x-vmig'].destination as { phases?: Record<string, number> } | undefined, events };
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
  let baselinePhases = '';

  test('early-mig off: the classic path, and the destination\'s virtio-net work inside the downtime; a set_link on the destination before the load does not survive it', async () => {
    const src = await startVm({ deviceExtra: 'early-mig=off' });
    await src.waitReady();
    // The helper checks the state (the link is in it) and pings the guest.
    const r = await migrate(src, { deviceExtra: 'early-mig=off' }, undefined, { beforeMigrate: destinationLinkDown });
    assert.equal(r.early.used, false);
    assert.equal(r.early['negotiated-down'], 'early-mig is off on the source');
    assert.equal(await guestLink(r.dst), true, "the guest's link");
    baselineNet = r.netDowntimeMs;
    baselinePhases = JSON.stringify(r.destination?.phases);
    await r.dst.quit();
  });

  test('nothing changed: only the minimal state at the stop, no reload, far less destination work inside the downtime; a set_link on the destination after its early load does not survive the switchover', async (t) => {
    const src = await startVm();
    await src.waitReady();
    // The link goes down on the destination while it holds the early state; the source's stays up, so the delta
    // carries no net-status. The helper checks the state (the link is in it) and pings the guest.
    const r = await migrate(src, {}, async (dst) => {
      await earlyLoaded(dst);
      await destinationLinkDown(dst);
    });
    assert.equal(await guestLink(r.dst), true, "the guest's link");
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
    t.diagnostic(`destination virtio-net work inside the downtime: early-mig off ${baselineNet.toFixed(3)} ms, early per-delta ${r.netDowntimeMs.toFixed(3)} ms (${(baselineNet / r.netDowntimeMs).toFixed(1)}×); setup-phase load ${r.early['destination-setup-load-ms']} ms; destination phases, off ${baselinePhases}, early ${JSON.stringify(r.destination?.phases)}`);
    await r.dst.quit();
  });

  /**
   * Every category under both policies, one guest chained through the
   * migrations (each destination is the next source). Each step changes one
   * category after the early section, during pre-copy. Some cannot change
   * alone, and the step asserts the exact set:
   *   - the config space is what the guest last read (QEMU's vdev->config,
   *     refreshed on every guest read), so the link status (net-status)
   *     reaches it as soon as the guest reads its config on the interrupt;
   *   - the post-migration announce leaves VIRTIO_NET_S_ANNOUNCE in that
   *     copy, so an action that makes the guest read its config again (a
   *     config interrupt, a re-probe) changes `config` too. Steps built on
   *     such an action start from a guest that re-probed after the previous
   *     migration (its config read fresh), as a freshly booted guest has it.
   */
  test('each category, under per-delta (its handler alone) and rfc (a full reload): the destination ends with the source\'s state, the guest keeps working', async (t) => {
    const SPEC = { deviceExtra: 'rss=on,x-txburst=8' };
    const guest = (vm: VmProcess, op: Record<string, unknown>) => vm.qmp.execute('x-vmig-guest', op);
    const reprobe = (size?: number) => async (dst: VmProcess) => void (await guest(dst, { op: 'reprobe', ...(size ? { 'ring-size': size } : {}) }));
    const endFlood = async (dst: VmProcess) => void (await guest(dst, { op: 'tx-flood', ms: 0 }));
    type Step = [what: string, policy: 'per-delta' | 'rfc', action: (src: VmProcess) => Promise<unknown>, expected: string[], options?: MigrateOptions];
    const steps: Step[] = [
      // A driver bug (a TX buffer past the end of RAM): the device sets DEVICE_NEEDS_RESET and is broken; the guest recovers with a re-probe.
      ['device status (DEVICE_NEEDS_RESET)', 'per-delta', (s) => guest(s, { op: 'tx-out-of-range' }), ['device-status'], { after: reprobe() }],
      ['device status (DEVICE_NEEDS_RESET)', 'rfc', (s) => guest(s, { op: 'tx-out-of-range' }), ['device-status'], { after: reprobe() }],
      // A guest announce round makes the guest read its config space: ANNOUNCE lands in the copy, the status itself is back after the ACK.
      ['config space (a guest announce round)', 'per-delta', (s) => s.qmp.execute('announce-self', { initial: 50, max: 50, rounds: 1, step: 50 }), ['config'], { rarps: 6, after: reprobe() }],
      ['config space (a guest announce round)', 'rfc', (s) => s.qmp.execute('announce-self', { initial: 50, max: 50, rounds: 1, step: 50 }), ['config'], { rarps: 6, after: reprobe() }],
      // A ring re-init (ethtool -G on a device without RING_RESET): reset, re-probe with smaller rings, configuration restored.
      ['queue configuration (ring re-init)', 'per-delta', (s) => guest(s, { op: 'reprobe', 'ring-size': 128 }), ['vq'], { after: reprobe() }],
      ['queue configuration (ring re-init)', 'rfc', (s) => guest(s, { op: 'reprobe', 'ring-size': 256 }), ['vq']],
      // No RARP and no ping with the link down (QEMU drops a link-down NIC's packets).
      ['link down (VirtIONet status)', 'per-delta', (s) => s.qmp.execute('set_link', { name: 'n0', up: false }), ['config', 'net-status'], { rarps: 0, ping: false }],
      ['link up (VirtIONet status)', 'rfc', (s) => s.qmp.execute('set_link', { name: 'n0', up: true }), ['config', 'net-status']],
      // TX queue 0 kept full: a flush takes 8 chains per turn (x-txburst), the stop finds more pending (tx_waiting).
      // The flood runs on through the stop, and on the destination until the guest ends it there.
      ['pending TX (a TX flood at the stop)', 'per-delta', (s) => guest(s, { op: 'tx-flood', ms: 20_000 }), ['pending-tx'], { after: endFlood }],
      ['pending TX (a TX flood at the stop)', 'rfc', (s) => guest(s, { op: 'tx-flood', ms: 20_000 }), ['pending-tx'], { after: endFlood }],
      ['MAC table', 'per-delta', (s) => guest(s, { op: 'add-mcast', mac: '01:00:5e:00:00:fb' }), ['mac-table']],
      ['MAC table', 'rfc', (s) => guest(s, { op: 'add-mcast', mac: '01:00:5e:00:00:fc' }), ['mac-table']],
      ['rx filter', 'per-delta', (s) => guest(s, { op: 'set-rx-mode', allmulti: true }), ['rx-filter']],
      ['rx filter', 'rfc', (s) => guest(s, { op: 'set-rx-mode', alluni: true }), ['rx-filter']],
      ['MAC', 'per-delta', (s) => guest(s, { op: 'set-mac', mac: '52:54:00:12:34:57' }), ['mac']],
      ['MAC', 'rfc', (s) => guest(s, { op: 'set-mac', mac: '52:54:00:12:34:58' }), ['mac']],
      ['VLAN table', 'per-delta', (s) => guest(s, { op: 'add-vlan', id: 42, ip: '192.168.42.2/24' }), ['vlan']],
      ['VLAN table', 'rfc', (s) => guest(s, { op: 'add-vlan', id: 43, ip: '192.168.43.2/24' }), ['vlan']],
      // The guest negotiated GUEST_CSUM only: checksum offload off, then on again.
      ['guest offloads', 'per-delta', (s) => guest(s, { op: 'set-offloads' }), ['offloads-mq']],
      ['guest offloads', 'rfc', (s) => guest(s, { op: 'set-offloads', csum: true }), ['offloads-mq']],
      ['RSS', 'per-delta', (s) => guest(s, { op: 'set-rss', indirection: [0, 1, 0, 1, 0, 1, 0, 1] }), ['rss']],
      ['RSS', 'rfc', (s) => guest(s, { op: 'set-rss', indirection: [0, 1, 2, 3, 0, 1, 2, 3] }), ['rss']],
      // Fewer pairs: the backend detaches queues at the switchover; tx_waiting has one entry per active pair, so it moves too;
      // and any MQ command turns RSS off (QEMU virtio_net_handle_mq).
      ['queue pairs', 'per-delta', (s) => guest(s, { op: 'set-queues', pairs: 2 }), ['offloads-mq', 'rss', 'pending-tx']],
    ];
    let src = await startVm(SPEC);
    await src.waitReady();
    for (const [what, policy, action, expected, options] of steps) {
      const label = `${what} (${policy})`;
      let r: Awaited<ReturnType<typeof migrate>>;
      for (let attempt = 1; ; attempt++) {
        const cur = src;
        r = await migrate(cur, SPEC, async () => void (await action(cur)), { policy, ...options });
        src = r.dst;
        // The flood keeps TX busy, but a stop can still land just after the device drained the ring (the guest
        // a beat behind): then nothing is pending and nothing changed. That migration was checked like any
        // other (state, guest, RARPs); try again, a few times at most.
        if (!(what.startsWith('pending TX') && r.early.changed!.length === 0 && attempt < 4)) break;
        t.diagnostic(`${label}: attempt ${attempt} stopped with the TX ring drained; again`);
      }
      assert.equal(r.early.used, true, label);
      assert.equal(r.early.policy, policy, label);
      assert.deepEqual(r.early.changed, expected, label);
      assert.equal(r.early['full-reload'], policy === 'rfc', `${label}: a full reload only under rfc`);
      t.diagnostic(`${label}: changed ${r.early.changed!.join(', ')}; delta ${r.early['delta-bytes']} bytes; destination work in the downtime ${r.netDowntimeMs.toFixed(2)} ms`);
    }
    const filter = ((await src.qmp.execute('query-rx-filter')) as Record<string, unknown>[])[0]!;
    assert.equal(filter['main-mac'], '52:54:00:12:34:58');
    assert.equal(filter['multicast'], 'all', 'allmulti, set mid-migration');
    assert.equal(filter['unicast'], 'all', 'alluni, set mid-migration');
    assert.deepEqual((filter['multicast-table'] as string[]).slice().sort(), ['01:00:5e:00:00:fb', '01:00:5e:00:00:fc']);
    assert.ok((filter['vlan-table'] as number[]).includes(42) && (filter['vlan-table'] as number[]).includes(43), 'both VLANs in the filter');
    // The tagged interfaces answer through the VLANs the destination's filter kept.
    const st = (await src.guestStatus()) as unknown as { net: { pairs: number; interfaces: { vlan: number }[] } };
    assert.equal(st.net.pairs, 2);
    assert.deepEqual(st.net.interfaces.map((i) => i.vlan).sort(), [0, 42, 43]);
    await src.quit();
  });

  /**
   * A transport change under per-delta: after the early section the guest
   * re-binds its NIC asking for fewer features (GUEST_ANNOUNCE and CTRL_VLAN
   * left out, as a driver built or loaded without them does), and on the next
   * migration for all of them again. No handler applies renegotiated
   * features, so per-delta reloads in full. One category moves with them,
   * exactly: the VLAN filter, which virtio_net_set_features fills from
   * CTRL_VLAN (all VLANs pass without it; none until added with it).
   * Everything else the reset and re-probe touch comes back as it was: the
   * rings at the same addresses and sizes, their vectors and queue_sel
   * (`vq`), the status register (`device-status`), the MAC and an empty MAC
   * table, the rx mode the driver programs at open (`rx-filter`), the queue
   * pairs and the offloads derived from the unchanged GUEST_CSUM
   * (`offloads-mq`), RSS off, and the config-space copy, whose fields do not
   * depend on the negotiated features (and which no announce has touched: a
   * fresh guest, then one that did not negotiate GUEST_ANNOUNCE).
   */
  test('a renegotiation during pre-copy (the guest re-binds with fewer features, then with all again): per-delta reloads in full, the destination ends with the source\'s state, the guest keeps working', async () => {
    const guest = (vm: VmProcess, op: Record<string, unknown>) => vm.qmp.execute('x-vmig-guest', op);
    const vlanFilter = async (vm: VmProcess) => ((await vm.qmp.execute('query-rx-filter')) as { vlan: string }[])[0]!.vlan;
    const announcements = async (vm: VmProcess) => ((await vm.guestStatus()).net as { announcements: number }).announcements;
    const src = await startVm();
    await src.waitReady();
    assert.equal(await vlanFilter(src), 'none', 'CTRL_VLAN negotiated, no VLAN added');
    await assert.rejects(guest(src, { op: 'reprobe', 'features-off': ['mq'] }), /features-off: "mq" is not a feature this driver can do without/);
    const before = await announcements(src);

    const fewer = await migrate(src, {}, async () => void (await guest(src, { op: 'reprobe', 'features-off': ['guest_announce', 'ctrl_vlan'] })), { policy: 'per-delta' });
    assert.equal(fewer.early.used, true);
    assert.equal(fewer.early.policy, 'per-delta');
    assert.deepEqual(fewer.early.changed, ['vlan', 'transport']);
    assert.equal(fewer.early['full-reload'], true, 'a transport change reloads under per-delta');
    assert.equal(await vlanFilter(fewer.dst), 'all', 'without CTRL_VLAN every VLAN passes');
    assert.equal(await announcements(fewer.dst), before, 'without GUEST_ANNOUNCE the destination does not ask the guest to announce');

    // Back to every feature: the same two parts move the other way.
    const all = await migrate(fewer.dst, {}, async () => void (await guest(fewer.dst, { op: 'reprobe' })), { policy: 'per-delta' });
    assert.deepEqual(all.early.changed, ['vlan', 'transport']);
    assert.equal(all.early['full-reload'], true, 'a transport change reloads under per-delta');
    assert.equal(await vlanFilter(all.dst), 'none');
    assert.ok((await announcements(all.dst)) > before, 'GUEST_ANNOUNCE again: the destination asked the guest to announce');
    await all.dst.quit();
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

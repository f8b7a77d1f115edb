/**
 * bench:early — early virtio-net migration against the classic path
 * (issue #5). One guest (256 MiB, 2 vCPUs, 4 queue pairs, workload at
 * 4 MB/s, the 10 ms UDP probe) migrates back and forth; before each
 * migration the source's early-mig / early-mig-policy are set with qom-set,
 * interleaving baseline (early-mig=off), early-rfc and early-per-delta.
 * Two scenarios: nothing changes during the migration, and one injected
 * change per run (the guest adds or removes a VLAN after the early section).
 * Modes and scenarios interleave round by round, the order rotating.
 *
 *   npm run bench:early -- [RUNS=30] [--warmup 3] [--vhost]
 *
 * --vhost: the datapath in a `vmig vhost-user-net` process per VMM (QEMU's
 * vhost=on; the RFC's own regime), where the baseline's switchover also
 * starts the backend's rings and early migration moves that setup out.
 *
 * Needs root (netns, TAP).
 */

import { MigrationSeries, cpuLatencySummary, median, percentile } from '../src/cli/migration-series.js';
import type { MigrationResult } from '../src/cli/migration-series.js';
import { NetworkNamespace, UdpProbe, makeTempDir, netnsUnavailableReason, removeTree } from '../src/host/index.js';
import { machineLine } from './machine.js';

const skip = netnsUnavailableReason();
if (skip) {
  console.log(`bench:early needs a network namespace: ${skip}`);
  process.exit(1);
}
const args = process.argv.slice(2);
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 30);
const wi = args.indexOf('--warmup');
const WARMUP = wi >= 0 ? Number(args[wi + 1]) : 3;
const VHOST = args.includes('--vhost');

type Mode = 'baseline' | 'early-rfc' | 'early-per-delta';
const MODES: Mode[] = ['baseline', 'early-rfc', 'early-per-delta'];
const SCENARIOS = ['no change', 'one injected change'] as const;
const DEVICE = '/machine/peripheral-anon/device[0]';

const ns = new NetworkNamespace('vmig-be');
const dir = makeTempDir('vmig-be-');
const probe = UdpProbe.start(ns, ns.guest, 7777, 10);
let mode: Mode = 'baseline';
let inject = false;
let vlanUp = false;
const series = new MigrationSeries({
  ns,
  dir,
  probe,
  vm: { ip: `${ns.guest}/24`, memory: '256M', cpus: 2, queues: 4, workload: { size: '64M', dirtyRate: '4M' }, vhostUser: VHOST },
  // Pre-copy starts throttled so the injected change surely lands after the early section; then full speed.
  parameters: { 'max-bandwidth': 16 << 20, 'downtime-limit': 300 },
  beforeMigrate: async (src) => {
    await src.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig', value: mode !== 'baseline' });
    await src.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig-policy', value: mode === 'early-rfc' ? 'rfc' : 'per-delta' });
  },
  duringPrecopy: async (src) => {
    if (inject) {
      await src.qmp.execute('x-vmig-guest', vlanUp ? { op: 'del-vlan', id: 100 } : { op: 'add-vlan', id: 100, ip: '192.168.100.2/24' });
      vlanUp = !vlanUp;
    }
    await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 128 << 20 });
  },
});
process.once('SIGINT', () => {
  probe.kill();
  void series.close().then(() => {
    ns.destroy();
    removeTree(dir);
    process.exit(130);
  });
});

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const results = new Map<string, MigrationResult[]>();
try {
  await series.boot();
  console.log(`bench:early — ${machineLine()}`);
  console.log(`datapath: ${VHOST ? 'vhost-user (vmig vhost-user-net per VMM)' : 'TAP in the VMM (vhost off)'}`);
  console.log(`guest 256 MiB, 2 vCPUs, 4 queue pairs, workload 64 MiB at 4 MB/s, probe every 10 ms; ${WARMUP} warm-up + ${RUNS} measured runs per mode and scenario, all interleaved (the order rotated each round); downtime = QEMU's measure, source stop → the destination's SHUT ("running") read by the source\n`);
  // Both scenarios and all three modes interleave, six migrations a round, so
  // the two targets compare runs taken under the same conditions (a machine
  // like this one drifts by a millisecond over the minutes a scenario takes).
  // The mode order rotates each round: no mode always follows the same one
  // (each source VMM arrived by the previous migration, in the previous mode).
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (const scenario of round % 2 === 0 ? SCENARIOS : [...SCENARIOS].reverse()) {
      inject = scenario !== 'no change';
      for (const m of MODES.map((_, i) => MODES[(i + round) % MODES.length]!)) {
        mode = m;
        const r = await series.migrate();
        if (r.status !== 'completed') {
          for (const vm of series.all.slice(-2)) console.error(`--- ${vm.name}\n${vm.log}`);
          throw new Error(`${m}: migration ${r.index} ${r.status}: ${r.error}`);
        }
        if (round >= WARMUP) {
          const key = `${scenario}|${m}`;
          results.set(key, [...(results.get(key) ?? []), r]);
        }
      }
    }
    process.stdout.write(`\rround ${round + 1}/${WARMUP + RUNS}`);
  }
  console.log(`\n${cpuLatencySummary([...results.values()].flat())}`);
  for (const scenario of SCENARIOS) {
    console.log(`\n### ${scenario}\n`);
    console.log('| mode | downtime median | p95 | stop → running median | max probe gap median | p95 | destination virtio-net work in downtime, median | full reloads | changed |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const m of MODES) {
      const rs = results.get(`${scenario}|${m}`) ?? [];
      const d = rs.map((r) => r.downtimeMs);
      const g = rs.map((r) => r.maxGapMs);
      const net = rs.map((r) => Number(r.xvmig['destination-net-downtime-ms']));
      const early = rs.map((r) => r.xvmig['early-mig'] as { 'full-reload'?: boolean; changed?: string[] } | undefined);
      const reloads = early.filter((e) => e?.['full-reload']).length;
      const changed = [...new Set(early.flatMap((e) => e?.changed ?? []))].join(' ') || '—';
      console.log(`| ${m} | ${fmt(median(d))} ms | ${fmt(percentile(d, 0.95))} ms | ${fmt(median(rs.map((r) => r.stopToRunningMs)))} ms | ${fmt(median(g))} ms | ${fmt(percentile(g, 0.95))} ms | ${fmt(median(net), 2)} ms | ${reloads}/${rs.length} | ${changed} |`);
    }
    const base = median((results.get(`${scenario}|baseline`) ?? []).map((r) => r.downtimeMs));
    for (const m of ['early-rfc', 'early-per-delta'] as Mode[]) {
      console.log(`${m}: median downtime ${fmt((median((results.get(`${scenario}|${m}`) ?? []).map((r) => r.downtimeMs)) / base) * 100, 0)}% of baseline`);
    }
    for (const m of MODES) {
      const rs = results.get(`${scenario}|${m}`) ?? [];
      const phases = [...new Set(rs.flatMap((r) => Object.keys(r.phases)))];
      console.log(`${m} phases (median ms): ${phases.map((p) => `${p} ${fmt(median(rs.map((r) => r.phases[p] ?? NaN)), 2)}`).join(' · ')}`);
    }
  }
  const pdNone = median((results.get('no change|early-per-delta') ?? []).map((r) => r.downtimeMs));
  const pdOne = median((results.get('one injected change|early-per-delta') ?? []).map((r) => r.downtimeMs));
  console.log(`\nper-delta with one injected change: median downtime ${fmt((pdOne / pdNone) * 100, 0)}% of per-delta with none`);
} finally {
  await probe.stop().catch(() => undefined);
  await series.close();
  ns.destroy();
  removeTree(dir);
}

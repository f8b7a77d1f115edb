/**
 * bench:migrate — repeated live migrations of one guest between two TAPs on
 * a bridge in a private namespace (issue #4): 256 MiB, 2 vCPUs, 4 queue
 * pairs, the memory workload at a low dirty rate, a UDP probe every 10 ms.
 * Prints every run, then median and p95 of downtime, total time and max
 * probe gap, and the medians of the downtime phases.
 *
 *   npm run bench:migrate -- [RUNS] [--dirty-rate 4M] [--max-bandwidth 128M] [--warmup 2] [--early-mig on|off] [--trace] [--sched]
 *
 * --early-mig: the NIC's early virtio-net migration (default: the machine
 * type's, on for q35); bench:early compares the modes. --trace: both VMMs
 * run with the switchover's trace events (-trace), and the bench prints the
 * median time of each after the source's stop (docs/BENCHMARKS.md, "Tracing").
 * --sched: the kernel's scheduler trace (ftrace, root, tracefs mounted) of
 * every migration; the bench prints how long each role's threads (each
 * VMM's event loop, vCPUs and V8/Node helpers, other processes, idle) ran
 * inside the downtime, and how long each was runnable without a CPU.
 *
 * Needs root (netns, TAP).
 */

import { MigrationSeries, cpuLatencySummary, median, percentile } from '../src/cli/migration-series.js';
import type { MigrationResult } from '../src/cli/migration-series.js';
import { NetworkNamespace, SchedTrace, UdpProbe, makeTempDir, netnsUnavailableReason, removeTree, schedTraceUnavailableReason } from '../src/host/index.js';
import type { VmProcess } from '../src/cli/vm-process.js';
import { summarizeSched } from '../src/cli/sched-summary.js';
import type { SchedSummary } from '../src/cli/sched-summary.js';
import { parseSize } from '../src/machine/index.js';
import { machineLine } from './machine.js';

const skip = netnsUnavailableReason();
if (skip) {
  console.log(`bench:migrate needs a network namespace: ${skip}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 20);
const WARMUP = Number(opt('--warmup', '2'));
const DIRTY = opt('--dirty-rate', '4M');
const EARLY = opt('--early-mig', 'default');
if (!['on', 'off', 'default'].includes(EARLY)) throw new Error('--early-mig takes on or off');
const BANDWIDTH = parseSize(opt('--max-bandwidth', '128M'));
if (BANDWIDTH === undefined) throw new Error('--max-bandwidth takes a size such as 128M');
const PARAMS = { 'max-bandwidth': BANDWIDTH, 'downtime-limit': 300 };
const TRACE = args.includes('--trace');
const schedSkip = args.includes('--sched') ? schedTraceUnavailableReason() : 'not asked for';
const SCHED = schedSkip === undefined;
if (args.includes('--sched') && !SCHED) console.log(`--sched: ${schedSkip}; running without the scheduler trace`);


const ns = new NetworkNamespace('vmig-bm');
const dir = makeTempDir('vmig-bm-');
const probe = UdpProbe.start(ns, ns.guest, 7777, 10);
const series = new MigrationSeries({
  ns,
  dir,
  probe,
  vm: { ip: `${ns.guest}/24`, memory: '256M', cpus: 2, queues: 4, workload: { size: '64M', dirtyRate: DIRTY }, ...(EARLY === 'default' ? {} : { deviceExtra: `early-mig=${EARLY}` }) },
  parameters: PARAMS,
  trace: TRACE,
  // --sched: the kernel's scheduler trace from the destination's start to the migration's end.
  ...(SCHED
    ? {
        beforeMigrate: async (src: VmProcess, dst: VmProcess) => {
          roles = new Map([...(await threadRoles(src, 'src')), ...(await threadRoles(dst, 'dst'))]);
          sched = SchedTrace.start();
        },
      }
    : {}),
});
let roles = new Map<number, string>();
let sched: SchedTrace | undefined;

/** Each thread of a VMM by role (x-vmig-query-threads): `side:event-loop`, `side:vcpu`, `side:helper`. */
async function threadRoles(vm: VmProcess, side: string): Promise<Map<number, string>> {
  const t = (await vm.qmp.execute('x-vmig-query-threads')) as { 'event-loop': number; vcpus: number[]; helpers: number[] };
  return new Map<number, string>([[t['event-loop'], `${side}:event-loop`], ...t.vcpus.map((v) => [v, `${side}:vcpu`] as [number, string]), ...t.helpers.map((h) => [h, `${side}:helper`] as [number, string])]);
}
const cleanup = () => {
  probe.kill();
  void series.close();
  ns.destroy();
  removeTree(dir);
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
try {
  await series.boot();
  console.log(`bench:migrate — ${machineLine()}`);
  console.log(`guest: 256 MiB, 2 vCPUs, 4 queue pairs, workload 64 MiB at ${DIRTY}B/s, early-mig ${EARLY === 'default' ? 'as the machine type (q35: on, per-delta)' : EARLY}; probe every 10 ms; ${JSON.stringify(PARAMS)}; return-path on (downtime = source stop → destination running)`);
  console.log(`${WARMUP} warm-up + ${RUNS} measured migrations over tcp on loopback\n`);
  const results: MigrationResult[] = [];
  const scheds: SchedSummary[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const r = await series.migrate();
    const records = sched?.stop();
    sched = undefined;
    if (r.status !== 'completed') throw new Error(`migration ${r.index} ${r.status}: ${r.error}`);
    const stop = (r.xvmig.instants as Record<string, number> | undefined)?.stop;
    if (records && stop !== undefined && i >= WARMUP) scheds.push(summarizeSched(records, stop, stop + r.downtimeMs, roles));
    const tag = i < WARMUP ? 'warm-up' : 'run';
    console.log(`${tag.padEnd(7)} ${String(r.index).padStart(3)}  downtime ${fmt(r.downtimeMs).padStart(6)} ms  total ${String(r.totalMs).padStart(5)} ms  probe gap ${fmt(r.maxGapMs).padStart(6)} ms  lost ${r.lostProbes}`);
    if (i >= WARMUP) results.push(r);
  }
  const col = (f: (r: MigrationResult) => number) => results.map(f);
  console.log(`\n${cpuLatencySummary(results)}`);
  console.log('\n| | median | p95 |\n|---|---|---|');
  console.log(`| downtime (ms) | ${fmt(median(col((r) => r.downtimeMs)))} | ${fmt(percentile(col((r) => r.downtimeMs), 0.95))} |`);
  console.log(`| stop → destination running, no return trip (ms) | ${fmt(median(col((r) => r.stopToRunningMs)))} | ${fmt(percentile(col((r) => r.stopToRunningMs), 0.95))} |`);
  console.log(`| total time (ms) | ${fmt(median(col((r) => r.totalMs)), 0)} | ${fmt(percentile(col((r) => r.totalMs), 0.95), 0)} |`);
  console.log(`| max probe gap (ms) | ${fmt(median(col((r) => r.maxGapMs)))} | ${fmt(percentile(col((r) => r.maxGapMs), 0.95))} |`);
  console.log(`| gap − downtime (ms) | ${fmt(median(col((r) => r.maxGapMs - r.downtimeMs)))} | ${fmt(percentile(col((r) => r.maxGapMs - r.downtimeMs), 0.95))} |`);
  console.log(`| gap began before the stop (ms) | ${fmt(median(col((r) => r.gapBeforeStopMs)))} | ${fmt(percentile(col((r) => r.gapBeforeStopMs), 0.95))} |`);
  console.log(`| gap ended after the destination ran (ms) | ${fmt(median(col((r) => r.gapAfterRunningMs)))} | ${fmt(percentile(col((r) => r.gapAfterRunningMs), 0.95))} |`);
  console.log(`| lost probes per migration | ${fmt(median(col((r) => r.lostProbes)), 0)} | ${fmt(percentile(col((r) => r.lostProbes), 0.95), 0)} |`);
  const phases = [...new Set(results.flatMap((r) => Object.keys(r.phases)))];
  console.log('\ndowntime phases, median (p95) ms:');
  console.log(phases.map((p) => `${p} ${fmt(median(col((r) => r.phases[p] ?? NaN)), 2)} (${fmt(percentile(col((r) => r.phases[p] ?? NaN), 0.95), 2)})`).join(' · '));
  if (scheds.length > 0) {
    // Per migration, inside its downtime: who had the CPUs, and how long each event loop waited for one.
    const keys = (f: (s: SchedSummary) => Record<string, number>) => [...new Set(scheds.flatMap((s) => Object.keys(f(s))))].sort();
    const line = (f: (s: SchedSummary) => Record<string, number>) => keys(f).map((k) => `${k} ${fmt(median(scheds.map((s) => f(s)[k] ?? 0)), 2)} (${fmt(percentile(scheds.map((s) => f(s)[k] ?? 0), 0.95), 2)})`).join(' · ');
    console.log('\nthe scheduler inside the downtime (ftrace sched_switch/sched_wakeup), median (p95) ms per migration:');
    console.log(`ran, summed over CPUs: ${line((s) => s.ran)}`);
    console.log(`runnable without a CPU: ${line((s) => s.waited)}`);
  }
  if (TRACE) {
    // Each event's median instant after the stop, in time order (present in at least half the runs).
    const names = [...new Set(results.flatMap((r) => Object.keys(r.timeline ?? {})))];
    const rows = names
      .map((n) => ({ n, at: results.map((r) => r.timeline?.[n]).filter((v): v is number => v !== undefined) }))
      .filter((x) => x.at.length * 2 >= results.length)
      .map((x) => ({ ...x, med: median(x.at) }))
      .sort((a, b) => a.med - b.med);
    console.log('\nswitchover trace, ms after the source stopped: median (p95) [runs with it]');
    for (const x of rows) {
      const a = results.map((r) => r.traceArgs?.[x.n]).filter((v): v is number => v !== undefined);
      console.log(`${fmt(x.med, 2).padStart(8)} (${fmt(percentile(x.at, 0.95), 2)})  ${x.n} [${x.at.length}]${a.length ? `  arg median ${fmt(median(a), 0)}` : ''}`);
    }
  }
} finally {
  sched?.stop();
  await probe.stop().catch(() => undefined);
  await series.close();
  ns.destroy();
  removeTree(dir);
}

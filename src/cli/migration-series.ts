/**
 * A series of live migrations of one guest between two TAPs on a bridge, in
 * a namespace, with the UDP probe running: what `vmig demo` shows and
 * bench:migrate measures. Each step starts a destination VMM (-incoming on
 * the other TAP), migrates over tcp, quits the old VMM, and reads the probe
 * window that covers the switchover.
 */

import type { NetworkNamespace, UdpProbe } from '../host/index.js';
import { VmProcess } from './vm-process.js';
import type { VmSpec } from './vm-process.js';

export interface MigrationResult {
  index: number;
  status: string;
  error?: string;
  downtimeMs: number;
  /** Source stop → destination vCPUs running (same host), without the return trip. */
  stopToRunningMs: number;
  totalMs: number;
  setupMs: number;
  transferredBytes: number;
  /** Longest time without a probe reply around the switchover. */
  maxGapMs: number;
  lostProbes: number;
  /** How long before the source stopped the probe's longest gap began, and how long after the destination ran it ended (ms; same host). */
  gapBeforeStopMs: number;
  gapAfterRunningMs: number;
  phases: Record<string, number>;
  /** Anything else the source reported under x-vmig (early migration, …). */
  xvmig: Record<string, unknown>;
  /**
   * With `trace`: each trace event of the switchover (source and destination,
   * `src:`/`dst:` prefixed; the first of each name) in
   * ms after the source's stop, plus the probe's gap ends (`probe:`).
   */
  timeline?: Record<string, number>;
  /** The arguments of the timeline's events that have one (pages, bytes, …). */
  traceArgs?: Record<string, number>;
}

/** The events a traced series reads: the stop-and-copy, the switchover, the NIC. */
const SWITCHOVER_TRACE = ['migrate_*', 'incoming_*', 'vm_*', 'net_*', 'vhost_user_*', 'vmm_loop_stall', 'vmm_gc'];

export interface SeriesOptions {
  ns: NetworkNamespace;
  /** Where QMP sockets and consoles go. */
  dir: string;
  probe: UdpProbe;
  /** The VM as first started (tap is set per step). */
  vm: Omit<VmSpec, 'tap' | 'incoming'>;
  /** Options for the destination only (e.g. a device property). Default: the same as vm. */
  destination?: Omit<VmSpec, 'tap' | 'incoming'>;
  capabilities?: string[];
  parameters?: Record<string, number | boolean>;
  /** Called between the start of a destination and the migration (set destination parameters…). */
  beforeMigrate?: (source: VmProcess, destination: VmProcess, index: number) => Promise<void>;
  /** Called once pre-copy is active (the early section has gone), e.g. to change the guest mid-migration. */
  duringPrecopy?: (source: VmProcess, index: number) => Promise<void>;
  /**
   * Wait after starting a destination before migrating (ms, default 1000): a
   * destination is normally ready and idle when a migration starts — on this
   * machine its start-up would otherwise compete for the CPUs with the source.
   */
  destinationIdleMs?: number;
  /** Let the probe judge the switchover's probes before reading its window (ms). */
  settleMs?: number;
  /** Run every VMM with the switchover's trace events and report a timeline per migration. */
  trace?: boolean;
  onProgress?: (line: string) => void;
}

export class MigrationSeries {
  readonly #o: SeriesOptions;
  readonly taps: [string, string];
  #current: VmProcess | undefined;
  #step = 0;
  #port = 4400 + Math.floor(Math.random() * 1000);
  readonly all: VmProcess[] = [];

  constructor(options: SeriesOptions, taps: [string, string] = ['vmiga', 'vmigb']) {
    this.#o = options;
    this.taps = taps;
  }

  get current(): VmProcess | undefined {
    return this.#current;
  }

  async #spawn(spec: VmSpec): Promise<VmProcess> {
    const name = `vm${this.all.length}`;
    const vm = await VmProcess.start(this.#o.ns, name, this.#o.trace ? { ...spec, trace: SWITCHOVER_TRACE } : spec, `${this.#o.dir}/${name}.sock`);
    this.all.push(vm);
    await this.#o.ns.enslave(spec.tap);
    return vm;
  }

  /** Boot the guest on the first TAP and wait until it answers. */
  async boot(): Promise<VmProcess> {
    this.#o.onProgress?.('booting the guest');
    const vm = await this.#spawn({ ...this.#o.vm, tap: this.taps[0] });
    await vm.waitReady();
    this.#current = vm;
    return vm;
  }

  /** One migration to the other TAP. */
  async migrate(): Promise<MigrationResult> {
    const src = this.#current;
    if (!src) throw new Error('boot() first');
    const index = ++this.#step;
    const tap = this.taps[index % 2]!;
    const port = this.#port++;
    this.#o.onProgress?.(`migration ${index}: starting the destination on ${tap}`);
    const dst = await this.#spawn({ ...(this.#o.destination ?? this.#o.vm), tap, incoming: `tcp:127.0.0.1:${port}` });
    await this.#o.beforeMigrate?.(src, dst, index);
    await new Promise((r) => setTimeout(r, this.#o.destinationIdleMs ?? 1000));
    await this.#o.probe.mark();
    this.#o.onProgress?.(`migration ${index}: migrating ${this.taps[(index + 1) % 2]} → ${tap}`);
    const during = this.#o.duringPrecopy;
    const out = await src.migrate(`tcp:127.0.0.1:${port}`, {
      capabilities: this.#o.capabilities ?? ['return-path'],
      parameters: this.#o.parameters as Record<string, number>,
      ...(during ? { onActive: () => during(src, index) } : {}),
    });
    const doneAt = Date.now();
    const info = out.info as Record<string, unknown> & { ram?: { transferred?: number }; 'x-vmig'?: Record<string, unknown> };
    // The old VMM quits only after the probe window: its teardown would
    // compete for the CPUs with the guest starting on the destination.
    await new Promise((r) => setTimeout(r, Math.max(0, doneAt + (this.#o.settleMs ?? 600) - Date.now())));
    const w = await this.#o.probe.mark();
    const traced = this.#o.trace ? await switchoverTimeline(src, dst, info['x-vmig'] ?? {}) : undefined;
    const timeline = traced?.timeline;
    if (timeline) {
      const stop = instant(info['x-vmig'] ?? {}, 'stop');
      Object.assign(timeline, { 'probe:gap-begins': w.gapFromMs - stop, 'probe:gap-ends': w.gapToMs - stop, 'probe:gap-ending-probe-sent': w.gapEndProbeSentMs - stop });
    }
    if (out.status === 'completed') {
      await src.quit();
      this.#current = dst;
    } else {
      dst.kill();
    }
    const x = info['x-vmig'] ?? {};
    return {
      index,
      status: out.status,
      ...(typeof info['error-desc'] === 'string' ? { error: info['error-desc'] } : {}),
      downtimeMs: Number(x['downtime-ms'] ?? info.downtime ?? NaN),
      stopToRunningMs: Number(x['stop-to-running-ms'] ?? NaN),
      totalMs: Number(info['total-time'] ?? NaN),
      setupMs: Number(info['setup-time'] ?? NaN),
      transferredBytes: Number(info.ram?.transferred ?? 0),
      maxGapMs: w.maxGapMs,
      lostProbes: w.lost,
      gapBeforeStopMs: instant(x, 'stop') - w.gapFromMs,
      gapAfterRunningMs: w.gapToMs - instant(x, 'destination-running'),
      phases: (x['downtime-phases'] as Record<string, number> | undefined) ?? {},
      xvmig: x,
      ...(traced ? { timeline: traced.timeline, traceArgs: traced.args } : {}),
    };
  }

  /** Quit the VM and kill anything left. */
  async close(): Promise<void> {
    if (this.#current) await this.#current.quit().catch(() => undefined);
    for (const vm of this.all) vm.kill();
  }
}

function instant(x: Record<string, unknown>, name: string): number {
  const v = (x.instants as Record<string, number> | undefined)?.[name];
  return typeof v === 'number' ? v : NaN;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

export function percentile(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
}

/** Both VMMs' trace events around the stop, in ms after it (the first of each name), and their arguments. */
async function switchoverTimeline(src: VmProcess, dst: VmProcess, x: Record<string, unknown>): Promise<{ timeline: Record<string, number>; args: Record<string, number> }> {
  const stop = instant(x, 'stop');
  const out: Record<string, number> = {};
  const args: Record<string, number> = {};
  for (const [side, vm] of [['src', src], ['dst', dst]] as const) {
    const t = (await vm.qmp.execute('x-vmig-query-trace')) as { events: { name: string; 'time-ms': number; arg?: number }[] };
    for (const e of t.events) {
      // Stalls and GC pauses inside the switchover (the stop to 60 ms after it) are kept apart from the rest.
      const longest = e.name === 'vmm_loop_stall' || e.name === 'vmm_gc';
      const inSwitchover = longest && e['time-ms'] - stop >= -5 && e['time-ms'] - stop <= 60;
      const key = `${side}:${e.name}${inSwitchover ? '@switchover' : ''}`;
      const at = e['time-ms'] - stop;
      // The first of each event; of the stalls and GC pauses, the longest.
      if (key in out && !(longest && (e.arg ?? 0) > (args[key] ?? 0))) continue;
      out[key] = at;
      if (e.arg !== undefined) args[key] = e.arg;
    }
  }
  return { timeline: out, args };
}

/**
 * For a bench's report: in how many of `results` idle CPUs polled
 * (x-vmig-cpu-latency, a PM QoS request each VMM holds while it migrates;
 * root only), as the source and the destination reported it.
 */
export function cpuLatencySummary(results: readonly MigrationResult[]): string {
  const held = (x: unknown) => (x as { held?: boolean } | undefined)?.held === true;
  const bySource = results.filter((r) => held(r.xvmig['cpu-latency'])).length;
  const byDestination = results.filter((r) => held((r.xvmig.destination as { cpuLatency?: unknown } | undefined)?.cpuLatency)).length;
  return `idle CPUs polling (x-vmig-cpu-latency 0, a PM QoS request held while migrating; root only): held by the source in ${bySource}/${results.length} migrations, by the destination in ${byDestination}/${results.length}`;
}

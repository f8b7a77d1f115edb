/**
 * What both directions share: QEMU's statuses, capabilities and parameters,
 * the VM as the engine sees it, and the numbers query-migrate reports.
 */

import { monotonicMs } from '../core/index.js';
import type { GuestMemory } from '../memory/index.js';
import type { Vcpu } from '../guest/index.vmm.js';
import type { VirtioNetDevice } from '../devices/net/index.js';

/** QEMU's MigrationStatus values vmig uses. */
export type MigrationStatus = 'none' | 'setup' | 'active' | 'device' | 'completed' | 'failed' | 'cancelling' | 'cancelled';

export const MIGRATION_CAPABILITIES = [
  'xbzrle', 'rdma-pin-all', 'auto-converge', 'zero-blocks', 'events', 'postcopy-ram', 'x-colo', 'release-ram', 'return-path',
  'pause-before-switchover', 'multifd', 'dirty-bitmaps', 'postcopy-blocktime', 'late-block-activate', 'x-ignore-shared',
  'validate-uuid', 'background-snapshot', 'zero-copy-send', 'postcopy-preempt', 'switchover-ack', 'dirty-limit', 'mapped-ram',
] as const;
export type MigrationCapability = (typeof MIGRATION_CAPABILITIES)[number];

/** Capabilities vmig implements; the others may be listed (as false) but not turned on. */
export const SUPPORTED_CAPABILITIES: ReadonlySet<MigrationCapability> = new Set(['events', 'return-path', 'switchover-ack', 'zero-blocks']);

export interface MigrationParameters {
  /** ms; QEMU default 300, at most 2 000 000. */
  downtimeLimitMs: number;
  /** Bytes/s for pre-copy (QEMU default 128 MiB/s); 0 means no limit. Stop-and-copy is never limited, as in QEMU. */
  maxBandwidth: number;
  announceInitialMs: number;
  announceMaxMs: number;
  announceRounds: number;
  announceStepMs: number;
  /**
   * vmig's own (x-vmig-record-device-state): a destination saves the virtio-net
   * state back from the device right after loading it, before resuming, so it
   * can be compared with what the source sent. Costs ~1 ms of downtime: off by default.
   */
  recordDeviceState: boolean;
  /**
   * vmig's own (x-vmig-cpu-latency): the CPU wake-up latency (µs) this VMM
   * asks of the host while it migrates, either side (host/cpu-latency.ts); 0,
   * the default, makes idle CPUs poll; -1 makes no request. Root only: elsewhere
   * nothing is asked, and query-migrate says so.
   */
  cpuLatencyUs: number;
}

export const DEFAULT_PARAMETERS: Readonly<MigrationParameters> = {
  downtimeLimitMs: 300,
  maxBandwidth: 134_217_728,
  announceInitialMs: 50,
  announceMaxMs: 550,
  announceRounds: 5,
  announceStepMs: 100,
  recordDeviceState: false,
  cpuLatencyUs: 0,
};

/** The VM as the migration engine drives it (implemented by the machine layer's Vm). */
export interface MigratableVm {
  readonly memory: GuestMemory;
  /** Canonical machine type name (what the configuration section carries). */
  readonly machineType: string;
  readonly vcpus: readonly Vcpu[];
  readonly nic: VirtioNetDevice | undefined;
  /** The virtio-net section's idstr, QEMU-style (`0000:00:02.0/virtio-net`). */
  readonly nicIdstr: string;
  /** The NIC's early-mig and early-mig-policy properties, read when a migration starts. */
  earlyMigration(): { enabled: boolean; policy: 'rfc' | 'per-delta' };
  /** Source: stop vCPUs, then quiesce devices (QEMU's vm_stop for FINISH_MIGRATE). Resolves with the pause time in ms. */
  stopForMigration(): Promise<number>;
  /** Source: the migration failed or was cancelled after the stop: run again. */
  resumeAfterFailedMigration(): void;
  /** Source: the guest now runs on the destination. */
  migrationCompleted(): void;
  /** Destination: devices are loaded; unquiesce and start the vCPUs. */
  /**
   * Run the VM after an incoming migration: vCPUs first, then `vcpusRunning`
   * (the destination tells the source "running" there), then the devices —
   * all in one synchronous step, so nothing observes the gap.
   */
  startIncoming(vcpusRunning?: () => void): void;
  emitEvent(name: string, data?: Record<string, unknown>): void;
  /** Queue QMP events (timestamped when raised) until the function returned is called (switchover-window.ts). */
  holdEvents(): () => void;
  log(line: string): void;
}

/** The downtime broken into phases (ms), as `x-vmig.downtime-phases`. */
export interface DowntimePhases {
  vcpuPause?: number;
  /** Encoding the last dirty pages (RAM END). */
  ramSave?: number;
  deviceSave?: number;
  finalTransfer?: number;
  deviceLoad?: number;
  backendAttach?: number;
  announce?: number;
  resume?: number;
  /** Destination running → the source hears of it (return path). */
  returnPath?: number;
}

export interface RamStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  normalBytes: number;
  dirtySyncCount: number;
  mbps: number;
  dirtyPagesRate: number;
  precopyBytes: number;
  downtimeBytes: number;
  pagesPerSecond: number;
}

export function emptyRamStats(total: number): RamStats {
  return { transferred: 0, remaining: total, total, duplicate: 0, normal: 0, normalBytes: 0, dirtySyncCount: 0, mbps: 0, dirtyPagesRate: 0, precopyBytes: 0, downtimeBytes: 0, pagesPerSecond: 0 };
}

/** query-migrate's `ram` object, QEMU's member names. */
export function ramStatsJson(s: RamStats): Record<string, number> {
  return {
    transferred: s.transferred,
    remaining: s.remaining,
    total: s.total,
    duplicate: s.duplicate,
    skipped: 0,
    normal: s.normal,
    'normal-bytes': s.normalBytes,
    'dirty-pages-rate': s.dirtyPagesRate,
    mbps: s.mbps,
    'dirty-sync-count': s.dirtySyncCount,
    'postcopy-requests': 0,
    'page-size': 4096,
    'multifd-bytes': 0,
    'pages-per-second': s.pagesPerSecond,
    'precopy-bytes': s.precopyBytes,
    'downtime-bytes': s.downtimeBytes,
    'postcopy-bytes': 0,
    'dirty-sync-missed-zero-copy': 0,
  };
}

export function phasesJson(p: DowntimePhases): Record<string, number> {
  const out: Record<string, number> = {};
  const names: [keyof DowntimePhases, string][] = [
    ['vcpuPause', 'vcpu-pause'], ['ramSave', 'ram-save'], ['deviceSave', 'device-save'], ['finalTransfer', 'final-transfer'], ['deviceLoad', 'device-load'],
    ['backendAttach', 'backend-attach'], ['announce', 'announce'], ['resume', 'resume'], ['returnPath', 'return-path'],
  ];
  for (const [k, n] of names) if (p[k] !== undefined) out[n] = round3(p[k]!);
  return out;
}

export function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The host's monotonic clock in ms: the trace's clock, comparable across the VMMs of a host. */
export const nowMs = monotonicMs;

/**
 * What an outgoing migration reports: query-migrate's members (QEMU's, plus
 * `x-vmig`), and the downtime's phases completed with the destination's
 * report. Pure functions of the migration's figures, kept apart from the
 * engine that produces them (outgoing.ts).
 */

import type { CpuLatencyReport } from './cpu-latency-hold.js';
import type { EarlyPolicy } from './early-net.js';
import type { DestinationReport } from './return-path.js';
import type { MigrationUri } from './uri.js';
import { formatMigrationUri } from './uri.js';
import { phasesJson, ramStatsJson, round3 } from './migration-types.js';
import type { DowntimePhases, MigrationStatus, RamStats } from './migration-types.js';

/** Early virtio-net migration, as the source decided and ran it. */
export interface EarlyOutcome {
  used: boolean;
  policy: EarlyPolicy;
  /** Why it was not used (negotiated down). */
  reason?: string;
  earlyBytes?: number;
  deltaBytes?: number;
  changed?: string[];
  fullReload?: boolean;
}

/** The figures query-migrate is rendered from (times: host monotonic ms). */
export interface OutgoingFigures {
  status: MigrationStatus;
  now: number;
  startedAt: number;
  setupMs: number | undefined;
  totalMs: number | undefined;
  ram: RamStats;
  expectedDowntimeMs: number;
  downtimeMs: number | undefined;
  downtimeStart: number;
  error: string | undefined;
  uri: MigrationUri;
  returnPath: boolean;
  phases: DowntimePhases;
  early: EarlyOutcome | undefined;
  destReport: DestinationReport | undefined;
  cpuLatency?: CpuLatencyReport | undefined;
}

/** query-migrate, QEMU's members plus `x-vmig`. */
export function outgoingInfo(f: OutgoingFigures): Record<string, unknown> {
  const out: Record<string, unknown> = { status: f.status };
  if (f.status !== 'setup' && f.status !== 'none') {
    out['total-time'] = Math.round(f.totalMs ?? f.now - f.startedAt);
    if (f.setupMs !== undefined) out['setup-time'] = Math.round(f.setupMs);
    out.ram = ramStatsJson({ ...f.ram, mbps: round3(f.ram.mbps) });
  }
  if (f.status === 'active' || f.status === 'device') out['expected-downtime'] = Math.round(f.expectedDowntimeMs);
  if (f.downtimeMs !== undefined) out.downtime = Math.round(f.downtimeMs);
  if (f.error !== undefined) out['error-desc'] = f.error;
  const x: Record<string, unknown> = {
    uri: formatMigrationUri(f.uri),
    'return-path': f.returnPath,
    'downtime-measured-to': f.returnPath ? 'destination-running' : 'source-sent',
  };
  if (f.downtimeMs !== undefined) x['downtime-ms'] = round3(f.downtimeMs);
  if (Object.keys(f.phases).length > 0) x['downtime-phases'] = phasesJson(f.phases);
  if (f.downtimeMs !== undefined) {
    // Host monotonic instants (ms), to line the downtime up with other observers (the probe).
    x.instants = { stop: round3(f.downtimeStart), ...(f.destReport?.times ? { 'destination-running': round3(f.destReport.times.runningAt) } : {}) };
    // The guest's own pause: stop → its vCPUs run again on the destination, without the
    // return trip QEMU's measure includes. Only meaningful when both run on one host
    // (the instants are then on one clock), so only given when they are consistent.
    const running = f.destReport?.times?.runningAt;
    if (running !== undefined && running >= f.downtimeStart && running - f.downtimeStart <= f.downtimeMs) x['stop-to-running-ms'] = round3(running - f.downtimeStart);
  }
  if (f.early) {
    const e = f.early;
    const d = f.destReport?.early;
    x['early-mig'] = {
      used: e.used,
      policy: e.policy,
      ...(e.reason ? { 'negotiated-down': e.reason } : {}),
      ...(e.earlyBytes !== undefined ? { 'early-bytes': e.earlyBytes } : {}),
      ...(e.deltaBytes !== undefined ? { 'delta-bytes': e.deltaBytes, changed: e.changed, 'full-reload': e.fullReload } : {}),
      ...(d ? { 'destination-setup-load-ms': round3(d.setupLoadMs), 'destination-downtime-load-ms': round3(d.downtimeLoadMs) } : {}),
    };
  }
  if (f.destReport?.netDowntimeMs !== undefined) x['destination-net-downtime-ms'] = round3(f.destReport.netDowntimeMs);
  if (f.cpuLatency) x['cpu-latency'] = f.cpuLatency;
  if (f.destReport) x.destination = f.destReport;
  out['x-vmig'] = x;
  return out;
}

/**
 * The destination's phases (device load, backend attach, announce, resume)
 * into `phases`, and the wait for SHUT split into final-transfer and
 * return-path. `t1`: the source's device sections encoded; `sentAt`: the
 * last byte drained; `shutAt`: SHUT read (source instants).
 */
export function attributeDestinationPhases(phases: DowntimePhases, report: DestinationReport | undefined, at: { t1: number; sentAt: number; shutAt: number }): void {
  const p = report?.phases;
  if (p) {
    phases.deviceLoad = p.deviceLoadMs;
    phases.backendAttach = p.backendAttachMs;
    phases.announce = p.announceMs;
    phases.resume = p.resumeMs;
  }
  // Both VMMs read CLOCK_MONOTONIC; on one host the destination's instants
  // split the wait exactly. On two hosts they are meaningless: then
  // final-transfer stays "written and drained" and return-path the rest.
  const times = report?.times;
  if (times && times.eofAt >= at.t1 && times.shutAt <= at.shutAt && times.eofAt <= times.shutAt) {
    phases.finalTransfer = times.eofAt - at.t1;
    phases.returnPath = at.shutAt - times.shutAt;
  } else {
    // The destination's work between EOF and SHUT (announce is armed after "running", outside the wait).
    const destWork = (p?.deviceLoadMs ?? 0) + (p?.backendAttachMs ?? 0) + (p?.resumeMs ?? 0);
    phases.returnPath = Math.max(0, at.shutAt - at.sentAt - destWork);
  }
}

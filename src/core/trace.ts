/**
 * Trace points, QEMU's `-trace` with an in-memory backend: named instants on
 * the host's monotonic clock (CLOCK_MONOTONIC, ms), recorded only for the
 * events enabled with `-trace enable=PATTERN` or QMP trace-event-set-state,
 * and read back with QMP x-vmig-query-trace. Two VMMs on one host share the
 * clock, so a migration's source and destination traces line up with each
 * other and with a probe's timestamps (docs/BENCHMARKS.md, "Tracing").
 *
 * A disabled event costs one property read. Events are kept in a ring of
 * TRACE_CAPACITY entries; the oldest go first and are counted as dropped.
 */

/** Every trace event, with what its instant marks (and its argument, if any). */
export const TRACE_EVENTS = {
  vmm_process_start: 'the VMM process started (the time origin of its main thread)',
  vmm_modules_loaded: "the machine layer's modules are loaded",
  vmm_vm_started: 'the VM is built, its devices realized, its vCPU threads started; QMP listens',
  vmm_loop_stall: "the VMM's event loop ran no timer for a while; recorded at the stall's start (arg: ms)",
  vmm_gc: "a garbage collection paused the VMM's main thread; recorded at its start (arg: ms)",
  vm_first_mmio: "the guest's first MMIO exit: its code runs",
  vm_pause_requested: 'a pause (stop, or a migration stop) asked the vCPUs to park',
  vm_vcpus_parked: 'every vCPU parked',
  vm_vcpus_resumed: 'every vCPU was told to run',
  net_driver_ok: 'the guest driver set DRIVER_OK: the NIC is set up',
  net_quiesced: 'virtio-net stopped: in-flight TX finished, TAP reading stopped',
  net_unquiesced: 'virtio-net runs again',
  net_first_read: 'the first frame read from the backend after an unquiesce (arg: backend queue)',
  net_first_rx: 'the first frame delivered to the guest after an unquiesce (arg: queue pair)',
  net_first_tx: 'the first frame the guest sent after an unquiesce (arg: queue pair)',
  net_rarp_sent: 'a RARP left for the guest',
  vhost_user_prepared: "the vhost-user backend acknowledged a prepare: features, memory table, dirty log, rings (arg: ms it took)",
  vhost_user_committed: 'the ring bases and enables are written to the vhost-user backend (arg: ms since the start or commit began)',
  vhost_user_applied: 'the vhost-user backend acknowledged a whole start or commit: its rings move frames (arg: ms since it began)',
  vhost_user_stopped: "the vhost-user backend returned every ring's base (GET_VRING_BASE; arg: ms it took)",
  migrate_setup: 'an outgoing migration opened its channel',
  migrate_early_sent: 'the early virtio-net section is queued',
  migrate_early_acked: 'the destination acknowledged its early load',
  migrate_pass_end: 'a pre-copy pass was sent (arg: dirty pages left)',
  migrate_stop: 'the source begins stop-and-copy: the downtime starts',
  migrate_final_ram_sent: 'the final dirty pages are encoded (arg: pages)',
  migrate_device_saved: 'vCPU and device sections and EOF are encoded (arg: bytes queued)',
  migrate_drained: 'the kernel took the last byte of the stream',
  migrate_shut_received: "the destination's SHUT arrived: the downtime ends",
  incoming_accepted: 'an incoming migration accepted its channel',
  incoming_early_loaded: 'the early virtio-net section is loaded provisionally',
  incoming_device_section: 'the device sections after the final pages begin',
  incoming_eof: 'the stream reached EOF; everything is loaded',
  incoming_devices_applied: 'device state is applied and backends attached',
  incoming_running: 'the vCPUs run on the destination; SHUT is sent',
} as const;

export type TraceEventName = keyof typeof TRACE_EVENTS;

export interface TraceRecord {
  name: TraceEventName;
  /** CLOCK_MONOTONIC, ms. */
  t: number;
  arg?: number;
}

export const TRACE_CAPACITY = 1 << 16;

const enabled: Record<string, boolean> = Object.create(null) as Record<string, boolean>;
const names: TraceEventName[] = new Array<TraceEventName>(TRACE_CAPACITY);
const times = new Float64Array(TRACE_CAPACITY);
const args = new Float64Array(TRACE_CAPACITY);
let written = 0;
let taken = 0;

/** The host's CLOCK_MONOTONIC in ms: the clock of every trace instant, shared by all the VMMs of a host. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Record `name` now (or at `atMs`, an instant taken earlier on the same clock). */
export function trace(name: TraceEventName, arg?: number, atMs?: number): void {
  if (enabled[name] !== true) return;
  const i = written % TRACE_CAPACITY;
  names[i] = name;
  times[i] = atMs ?? monotonicMs();
  args[i] = arg ?? Number.NaN;
  written++;
}

/** The event names a QEMU-style glob (`*` and `?`) matches. */
export function matchTraceEvents(pattern: string): TraceEventName[] {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return (Object.keys(TRACE_EVENTS) as TraceEventName[]).filter((n) => re.test(n));
}

/** Enable or disable every event `pattern` matches; returns them (none matched: empty). */
export function setTraceState(pattern: string, on: boolean): TraceEventName[] {
  const hit = matchTraceEvents(pattern);
  for (const n of hit) enabled[n] = on;
  return hit;
}

export function traceEnabled(name: TraceEventName): boolean {
  return enabled[name] === true;
}

/** The records since the last take (oldest first), and how many were overwritten unread. */
export function takeTrace(): { events: TraceRecord[]; dropped: number } {
  const first = Math.max(taken, written - TRACE_CAPACITY);
  const dropped = first - taken;
  const events: TraceRecord[] = [];
  for (let k = first; k < written; k++) {
    const i = k % TRACE_CAPACITY;
    const a = args[i]!;
    events.push({ name: names[i]!, t: times[i]!, ...(Number.isNaN(a) ? {} : { arg: a }) });
  }
  taken = written;
  return { events, dropped };
}

/** When this thread's clock began, on CLOCK_MONOTONIC (ms): performance.now() counts from it. */
export function processStartMs(): number {
  return monotonicMs() - performance.now();
}

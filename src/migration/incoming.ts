/**
 * The destination side of a live migration (DESIGN §5). Bytes are decoded as
 * they arrive; RAM pages go straight into guest RAM (the guest is not
 * running, so that is no side effect). Every check — machine type, guest
 * firmware, vCPU count, RAM size, section versions — happens before anything
 * the guest or the network could see. Device state is applied only once the
 * stream reached EOF; then the switchover:
 *
 *   device load → backend attach (TAP queues, vnet header, offloads, link)
 *   → announce (host-side RARP at once; guest announce armed by the load)
 *   → vCPUs resume → report + SHUT(0) on the return path
 *
 * A stream that fails or ends before EOF never runs the guest: the caller
 * (vmig run -incoming) exits non-zero, as QEMU does.
 */

import { ByteReader, ByteWriter, VmigError, describeError, trace } from '../core/index.js';
import { copyBytes, idleHelperThreads, listenMigration, readMigrationFile } from '../host/index.js';
import type { MigrationLink, MigrationListener } from '../host/index.js';
import { GUEST_FIRMWARE_BUILD_ID, GUEST_RAM_LAYOUT_VERSION } from '../guest/index.vmm.js';
import type { AnnounceParams } from '../devices/net/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import { MIG_CMD_OPEN_RETURN_PATH, MIG_CMD_PING, StreamDecoder } from '../stream/index.js';
import type { SectionCodec, SectionHeader, StreamItem } from '../stream/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import type { VmState, Vmsd, VmstateContext } from '../vmstate/index.js';
import { encodeReturnPath } from './return-path.js';
import type { DestinationReport, ReturnPathMessage } from './return-path.js';
import type { MigrationUri } from './uri.js';
import { formatMigrationUri } from './uri.js';
import { GUEST_SECTION_IDSTR, RAM_BLOCK_NAME, VCPU_SECTION_IDSTR, guestMismatch, guestSectionVmsd, vcpuSectionVmsd } from './vmig-sections.js';
import type { GuestSectionState, VcpuSectionState } from './vmig-sections.js';
import { announceSelf } from './self-announce.js';
import { STOP_SECTION_IDS } from './outgoing.js';
import { rehearsalStreamHead, rehearseStopEncoding } from './stop-encoding.js';
import { openSwitchoverWindow } from './switchover-window.js';
import { holdMigrationCpuLatency } from './cpu-latency-hold.js';
import type { CpuLatencyHold } from './cpu-latency-hold.js';
import { applyEarlySwitchover, netDeltaVmsd } from './early-net.js';
import type { NetDelta } from './early-net.js';
import { warmUpNetPaths, warmUpResync } from './warm-up.js';
import type { SelfAnnounce } from './self-announce.js';
import { nowMs, phasesJson, round3 } from './migration-types.js';
import type { DowntimePhases, MigratableVm, MigrationStatus } from './migration-types.js';

export interface IncomingOptions {
  uri: MigrationUri;
  announce: AnnounceParams;
  /** Save the loaded virtio-net state back before resuming (x-vmig-record-device-state). */
  recordDeviceState: () => boolean;
  /** The CPU wake-up latency to ask of the host while the stream is read (x-vmig-cpu-latency; -1 or absent: none). */
  cpuLatencyUs?: () => number;
  /** Emit MIGRATION events beyond the initial `setup` (capability `events`). */
  events: () => boolean;
}

const PAGE = 4096;
/** How long a refusing destination waits for the source to read its report and hang up. */
const REFUSAL_LINGER_MS = 3000;
/**
 * How long after "running" the destination reports, closes the link, turns
 * `completed` and arms the guest's announce: first the resumed guest's own
 * traffic (the first probe echo takes 5–10 ms on this 2-core host). The
 * source's total time grows by as much; its downtime does not.
 */
const BOOKKEEPING_DELAY_MS = 20;

/**
 * The switchover's instants (nowMs), for the report: t0 EOF, t1 device state
 * applied, t2 backends attached, t4 the vCPUs running and SHUT sent (one
 * instant), stepEnd the end of that synchronous step; and whether the first
 * RARP went out with it.
 */
interface SwitchoverInstants {
  t0: number;
  t1: number;
  t2: number;
  t4: number;
  stepEnd: number;
  rarpSent: boolean;
}

export class IncomingMigration {
  readonly #vm: MigratableVm;
  readonly #opts: IncomingOptions;
  readonly #decoder: StreamDecoder;
  #status: MigrationStatus = 'none';
  #error: string | undefined;
  #listener: MigrationListener | undefined;
  #link: MigrationLink | undefined;
  #stopFile: (() => void) | undefined;
  #returnPath = false;
  #guestChecked = false;
  readonly #vcpuStates = new Map<number, VcpuSectionState>();
  #netState: VirtioSavedState | undefined;
  #switchedOver = false;
  /** EOF is loaded and an external datapath (vhost-user) is being started: nothing else is taken. */
  #startingDatapath = false;
  /** close() ran (the VM shuts down): a datapath start that lands after it does not run the guest. */
  #closed = false;
  /** Early migration: the state from the setup phase, the delta from the stop, what it cost where. */
  #earlyState: VirtioSavedState | undefined;
  #delta: NetDelta | undefined;
  #ackPending = false;
  #earlySetupMs = 0;
  #deltaDecodeMs = 0;
  /** Decoding the classic virtio-net section (inside the downtime). */
  #netDecodeMs = 0;
  #eofAt = 0;
  /**
   * Pages this stream has written with data. A destination's RAM is all zero
   * until the stream writes it (its guest never ran), so a zero page for a
   * page never written is skipped, as QEMU's ram_handle_zero skips a page
   * that is already zero. Filling them anyway touched all of guest RAM in the
   * first pass: 100–300 ms of page faults and memset on the destination's
   * only thread, on a 2-core host shared with the source's guest.
   */
  readonly #written: Uint8Array;
  /** After a refusal: what to do once the source has hung up. */
  #lingering: (() => void) | undefined;
  readonly #phases: DowntimePhases = {};
  #announce: SelfAnnounce | undefined;
  /** Open from "running" to the bookkeeping after it (switchover-window.ts). */
  #closeWindow: (() => void) | undefined;
  /** The stream head a rehearsed tail is decoded after (decodeRehearsedTail). */
  #rehearsalHead: Uint8Array | undefined;
  /** The helper threads' policies, parked from the final pages, put back with the window (switchover-window.ts). */
  #restoreHelpers: (() => void) | undefined;
  /** From the accepted connection (or the file opened) to the end, whichever it is (cpu-latency-hold.ts). */
  #cpuLatency: CpuLatencyHold | undefined;

  /**
   * The end of this side's migration, whichever way: what it holds of the
   * host let go — the switchover window's priority and events, the parked
   * helpers, the CPU latency request (each once; a failure may come before
   * the window opened).
   */
  #releaseHolds(): void {
    this.#closeWindow?.();
    this.#restoreHelpers?.();
    this.#cpuLatency?.release();
  }
  /** Between "running" and the bookkeeping that follows it (#complete). */
  #afterRunning: { timer: ReturnType<typeof setTimeout>; at: SwitchoverInstants } | undefined;
  #resolveDone!: (ok: boolean) => void;
  /** Resolves true once the guest runs here and the migration is `completed` (BOOKKEEPING_DELAY_MS later), false when it failed. */
  readonly done: Promise<boolean>;
  /** The device state right after the load, saved back from the device (compare with the source's). */
  loadedNetState: VmState | undefined;
  /** The address actually listened on (tcp port 0 → the port picked). */
  listeningUri: string | undefined;

  constructor(vm: MigratableVm, options: IncomingOptions) {
    this.#vm = vm;
    this.#opts = options;
    this.#written = new Uint8Array(vm.memory.pageCount);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#decoder = new StreamDecoder({ resolve: (h) => this.#codec(h), footers: 'auto', configuration: 'required' });
  }

  get status(): MigrationStatus {
    return this.#status;
  }

  get error(): string | undefined {
    return this.#error;
  }

  info(): Record<string, unknown> {
    if (this.#status === 'none') return {};
    const out: Record<string, unknown> = { status: this.#status };
    if (this.#error) out['error-desc'] = this.#error;
    if (this.listeningUri && this.#opts.uri.kind !== 'file') {
      const u = this.#opts.uri;
      out['socket-address'] = [u.kind === 'tcp' ? { type: 'inet', host: u.host, port: String(this.listeningUri.split(':').pop()) } : { type: 'unix', path: u.path }];
    }
    const x: Record<string, unknown> = {};
    if (Object.keys(this.#phases).length > 0) x['downtime-phases'] = phasesJson(this.#phases);
    // The early section is in the device (loadProvisional) from here on: what a host command on this side now meets.
    if (this.#earlyState) x['early-mig'] = { 'early-loaded': true, 'setup-load-ms': round3(this.#earlySetupMs) };
    if (this.#cpuLatency?.report) x['cpu-latency'] = this.#cpuLatency.report;
    if (Object.keys(x).length > 0) out['x-vmig'] = x;
    return out;
  }

  /**
   * Start listening (tcp/unix) or reading (file).
   * @throws VmigError ERR_HOST_MIGRATION_LISTEN_FAILED, ERR_HOST_FILE_UNREADABLE
   */
  async start(): Promise<void> {
    const u = this.#opts.uri;
    this.#status = 'setup';
    // QEMU's destination always reports setup, whatever the events capability.
    this.#vm.emitEvent('MIGRATION', { status: 'setup' });
    // The load path runs warm inside the downtime (warm-up.ts). Then the
    // source's stop, rehearsed on this still-empty VM: a destination is a
    // migration source later, and what it compiles now, before any guest
    // runs here, it keeps (V8 keeps bytecode: code-retention.ts). At that
    // later migration's start the rehearsal then costs no event-loop stall
    // of 10-20 ms, a probe gap of its own (stop-encoding.ts).
    const nic = this.#vm.nic;
    if (nic) {
      const stop = () => this.#status !== 'setup';
      // Each rehearsed tail is also decoded here, as this side's switchover will
      // decode the real one (decodeRehearsedTail).
      const onEncoded = (tail: Uint8Array) => this.#decodeRehearsedTail(tail);
      void warmUpNetPaths(nic, { apply: true, stop })
        .then(() => rehearseStopEncoding(this.#vm, STOP_SECTION_IDS, undefined, { runs: 4, stop, onEncoded }))
        .then(() => rehearseStopEncoding(this.#vm, STOP_SECTION_IDS, { policy: this.#vm.earlyMigration().policy, sent: nic.saveState() }, { runs: 8, stop, onEncoded }))
        .catch(() => undefined);
    }
    const handlers = { onData: (c: Uint8Array) => this.#onData(c), onClose: (e?: Error) => this.#onClose(e) };
    if (u.kind === 'file') {
      this.listeningUri = formatMigrationUri(u);
      this.#cpuLatency = holdMigrationCpuLatency(this.#opts.cpuLatencyUs?.() ?? -1);
      this.#stopFile = readMigrationFile(u.path, handlers).stop;
      return;
    }
    this.#listener = await listenMigration(u.kind === 'tcp' ? { kind: 'tcp', host: u.host, port: u.port } : { kind: 'unix', path: u.path }, (link) => {
      this.#link = link;
      trace('incoming_accepted');
      this.#cpuLatency = holdMigrationCpuLatency(this.#opts.cpuLatencyUs?.() ?? -1);
      void this.#listener?.close();
      return handlers;
    });
    this.listeningUri = this.#listener.uri;
  }

  /**
   * Decode a rehearsed stream tail (END pages, vCPU sections, virtio-net full
   * or delta, EOF) with a scratch decoder and nothing applied: the stream
   * decoder's END, FULL and EOF paths and the vCPU and delta sections' codecs
   * otherwise first run inside the downtime (a profile of the destination
   * showed its thread in the interpreter and in inline-cache misses from the
   * final pages to the first vCPU section). The head it needs is built once.
   */
  #decodeRehearsedTail(tail: Uint8Array): void {
    try {
      this.#rehearsalHead ??= rehearsalStreamHead(STOP_SECTION_IDS.ram, this.#vm.memory.size);
      const d = new StreamDecoder({ resolve: (h) => this.#codec(h, { timed: false }), footers: 'auto', configuration: 'absent' });
      d.push(this.#rehearsalHead);
      d.push(tail);
    } catch {
      // Only the code's warmth matters here.
    }
  }

  #setStatus(s: MigrationStatus): void {
    if (this.#status === s) return;
    this.#status = s;
    if (this.#opts.events()) this.#vm.emitEvent('MIGRATION', { status: s });
  }

  /** How each section of the stream decodes; `timed: false` for a rehearsal, whose decoding counts nowhere. */
  #codec(h: SectionHeader, options: { timed?: boolean } = {}): SectionCodec | undefined {
    const nic = this.#vm.nic;
    const time = options.timed === false ? (c: SectionCodec, _add: (ms: number) => void) => c : timed;
    if (h.idstr === GUEST_SECTION_IDSTR) return vmsdCodec(guestSectionVmsd, {});
    if (h.idstr === VCPU_SECTION_IDSTR) return vmsdCodec(vcpuSectionVmsd, {});
    if (nic && h.idstr === this.#vm.nicIdstr) return time(vmsdCodec(nic.sectionVmsd(), nic.vmstateContext()), (ms) => (this.#netDecodeMs += ms));
    if (nic && h.idstr === `${this.#vm.nicIdstr}-early`) return time(vmsdCodec(nic.sectionVmsd(), nic.vmstateContext()), (ms) => (this.#earlySetupMs += ms));
    if (nic && h.idstr === `${this.#vm.nicIdstr}-delta`) return time(vmsdCodec(netDeltaVmsd, {}), (ms) => (this.#deltaDecodeMs += ms));
    return undefined;
  }

  #onData(chunk: Uint8Array): void {
    if (this.#over()) return;
    if (this.#status === 'setup') this.#setStatus('active');
    try {
      for (const item of this.#decoder.push(chunk)) {
        this.#item(item);
        if (this.#over()) return;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #over(): boolean {
    return this.#switchedOver || this.#startingDatapath || this.#status === 'failed';
  }

  #onClose(err?: Error): void {
    if (this.#lingering) return this.#lingering();
    // Past EOF everything is loaded: the source may hang up (a file ends, a
    // source without a return path is done) while the datapath starts.
    if (this.#switchedOver || this.#startingDatapath || this.#status === 'failed') return;
    this.#fail(err ?? new VmigError('ERR_MIGRATE_STREAM_ENDED', `the migration stream ended at byte ${this.#decoder.offset}, before EOF: nothing was applied and the guest was not started`));
  }

  #item(item: StreamItem): void {
    const vm = this.#vm;
    switch (item.type) {
      case 'configuration':
        if (item.config.machine !== vm.machineType) {
          throw new VmigError('ERR_MIGRATE_MACHINE_MISMATCH', `Machine type mismatch: the stream is for ${item.config.machine}, this VM is ${vm.machineType} (start the destination with -machine ${item.config.machine})`);
        }
        return;
      case 'command':
        if (item.cmd === MIG_CMD_OPEN_RETURN_PATH) {
          if (!this.#link) throw new VmigError('ERR_MIGRATE_NO_RETURN_PATH', 'the stream asks for a return path, but a file has none');
          this.#returnPath = true;
          // Tell the source what this side takes: it decides on early migration from that.
          const early = vm.nic ? vm.earlyMigration() : { enabled: false, policy: 'per-delta' };
          this.#reply({ type: 'report', report: { ok: true, hello: { earlyMig: early.enabled, policy: early.policy } } });
          // Nothing to load before the switchover: acknowledge at once (QEMU does the same when no
          // device holds it back). With early migration, the early section's load holds it back.
          if (early.enabled) this.#ackPending = true;
          else this.#reply({ type: 'switchover-ack' });
        } else if (item.cmd === MIG_CMD_PING) {
          const v = item.data.length === 4 ? ((item.data[0]! << 24) | (item.data[1]! << 16) | (item.data[2]! << 8) | item.data[3]!) >>> 0 : 0;
          if (this.#returnPath) this.#reply({ type: 'pong', value: v });
        } else {
          throw new VmigError('ERR_MIGRATE_UNSUPPORTED', `the stream uses migration command ${item.cmd} (postcopy, COLO or a newer QEMU feature), which vmig does not support`);
        }
        return;
      case 'section':
        if (item.header.idstr === 'ram' && item.header.kind !== 'start' && !this.#guestChecked) {
          throw new VmigError('ERR_MIGRATE_BAD_STREAM', 'RAM arrived before the vmig-guest section: the source is not a vmig of this family');
        }
        // RAM begins without an early section: the source chose the classic path.
        if (item.header.idstr === 'ram' && this.#ackPending) this.#ack();
        // The final pages: the source has stopped. From here to the window's end the
        // helper threads take only idle CPUs (switchover-window.ts); the loading
        // thread's own priority is raised only at "running" (raised here, it cost).
        if (item.header.idstr === 'ram' && item.header.kind === 'end') this.#restoreHelpers ??= idleHelperThreads();
        return;
      case 'device-state':
        this.#deviceState(item.header, item.state);
        return;
      case 'ram-blocks': {
        const b = item.blocks;
        if (b.length !== 1 || b[0]!.idstr !== RAM_BLOCK_NAME || b[0]!.usedLength !== vm.memory.size) {
          throw new VmigError('ERR_MIGRATE_RAM_MISMATCH', `RAM blocks differ: the stream has ${b.map((x) => `${x.idstr} (${x.usedLength} bytes)`).join(', ')}, this VM has ${RAM_BLOCK_NAME} (${vm.memory.size} bytes)`);
        }
        if (!this.#guestChecked) throw new VmigError('ERR_MIGRATE_BAD_STREAM', 'RAM arrived before the vmig-guest section: the source is not a vmig of this family');
        return;
      }
      case 'ram-page':
        // Into guest RAM (shared memory): the host's memmove (host/copy-bytes.ts).
        copyBytes(vm.memory.bytes, item.addr, item.data);
        this.#written[item.addr / PAGE] = 1;
        return;
      case 'ram-zero': {
        const page = item.addr / PAGE;
        if (item.fill === 0 && this.#written[page] === 0) return;
        vm.memory.bytes.fill(item.fill, item.addr, item.addr + PAGE);
        this.#written[page] = 1;
        return;
      }
      case 'ram-xbzrle':
      case 'ram-compressed':
        throw new VmigError('ERR_MIGRATE_UNSUPPORTED', `the stream has ${item.type === 'ram-xbzrle' ? 'XBZRLE' : 'compressed'} pages, which vmig does not support`);
      case 'eof':
        this.#switchover();
        return;
      default:
        return;
    }
  }

  #deviceState(h: SectionHeader, state: VmState): void {
    const vm = this.#vm;
    if (h.idstr === GUEST_SECTION_IDSTR) {
      const here: GuestSectionState = { firmwareBuildId: GUEST_FIRMWARE_BUILD_ID, ramLayoutVersion: GUEST_RAM_LAYOUT_VERSION, vcpuCount: vm.vcpus.length, ramBytes: BigInt(vm.memory.size) };
      const why = guestMismatch(state as unknown as GuestSectionState, here);
      if (why) throw new VmigError('ERR_MIGRATE_GUEST_MISMATCH', `Cannot take this guest: ${why}`);
      this.#guestChecked = true;
    } else if (h.idstr === VCPU_SECTION_IDSTR) {
      if (h.instanceId >= vm.vcpus.length) throw new VmigError('ERR_MIGRATE_BAD_STREAM', `the stream has state for vCPU ${h.instanceId}; this VM has ${vm.vcpus.length}`);
      if (this.#vcpuStates.size === 0) trace('incoming_device_section');
      this.#vcpuStates.set(h.instanceId, state as unknown as VcpuSectionState);
    } else if (h.idstr === `${vm.nicIdstr}-early`) {
      // Provisional: loaded into the device now (all but what RAM holds) and the backend set up from it;
      // the device stays quiesced, so neither the guest nor the network sees it before the switchover.
      const t0 = nowMs();
      vm.nic!.loadProvisional(state as unknown as VirtioSavedState);
      this.#earlySetupMs += nowMs() - t0;
      this.#earlyState = state as unknown as VirtioSavedState;
      trace('incoming_early_loaded');
      const nic = vm.nic!;
      if (nic.externalDatapath) {
        // The datapath's setup leaves the downtime too (DESIGN §6): features,
        // memory table, dirty log, rings — all but their bases. The ack waits
        // for it. A failure is not the migration's: the switchover then starts
        // the datapath from scratch, as a classic destination does.
        const t1 = nowMs();
        nic.prepareDatapath().then(
          () => {
            this.#earlySetupMs += nowMs() - t1;
            if (this.#ackPending && !this.#over()) this.#ack();
          },
          (err: unknown) => {
            vm.log(`early vhost-user setup failed, the switchover will start it: ${err instanceof Error ? err.message : String(err)}`);
            if (this.#ackPending && !this.#over()) this.#ack();
          },
        );
      } else if (this.#ackPending) this.#ack();
      // The switchover's resync runs warm (warm-up.ts); only while nothing else has started.
      void warmUpResync(vm.nic!, this.#earlyState, { stop: () => this.#switchedOver || this.#status !== 'active' }).catch(() => undefined);
    } else if (h.idstr === `${vm.nicIdstr}-delta`) {
      if (!this.#earlyState) throw new VmigError('ERR_MIGRATE_BAD_STREAM', 'a virtio-net delta arrived without an early section');
      this.#delta = state as unknown as NetDelta;
    } else {
      this.#netState = state as unknown as VirtioSavedState;
    }
  }

  #ack(): void {
    this.#ackPending = false;
    this.#reply({ type: 'switchover-ack' });
  }

  #switchover(): void {
    const vm = this.#vm;
    if (!this.#guestChecked) throw new VmigError('ERR_MIGRATE_BAD_STREAM', 'the stream reached EOF without a vmig-guest section');
    for (const v of vm.vcpus) if (!this.#vcpuStates.has(v.index)) throw new VmigError('ERR_MIGRATE_BAD_STREAM', `the stream reached EOF without state for vCPU ${v.index}`);
    const nic = vm.nic;
    const t0 = nowMs();
    this.#eofAt = t0;
    trace('incoming_eof', undefined, t0);
    if (nic) nic.setAnnounceParams(this.#opts.announce);
    if (nic && !this.#netState && this.#earlyState && this.#delta) {
      // The full section's codec only for a full reload: nothing is built for it on the common path.
      const decodeFull = (bytes: Uint8Array) => {
        const h: SectionHeader = { kind: 'full', sectionId: 0, idstr: vm.nicIdstr, instanceId: 0, version: nic.sectionVmsd().version };
        return vmsdCodec(nic.sectionVmsd(), nic.vmstateContext()).load(new ByteReader(bytes), h) as unknown as VirtioSavedState;
      };
      applyEarlySwitchover(nic, this.#earlyState, this.#delta, decodeFull);
    } else if (nic) {
      if (!this.#netState) throw new VmigError('ERR_MIGRATE_BAD_STREAM', `the stream reached EOF without state for ${vm.nicIdstr}`);
      nic.loadState(this.#netState, { deferBackendAttach: true });
    }
    const t1 = nowMs();
    nic?.attachBackend();
    if (nic?.externalDatapath) {
      // The rings go to the datapath before the vCPUs run (QEMU's vhost_dev_start
      // at vm_start): early migration commits what its setup phase prepared.
      this.#startingDatapath = true;
      const start = this.#delta ? nic.commitDatapath() : nic.startDatapath();
      start.then(
        () => {
          this.#startingDatapath = false;
          if (this.#status === 'failed') return;
          if (this.#closed) {
            this.#fail(new VmigError('ERR_MIGRATE_DESTINATION_FAILED', 'the VM shut down while its vhost-user datapath was starting: the guest did not run here'));
            return;
          }
          try {
            this.#run(t0, t1);
          } catch (err) {
            this.#fail(err);
          }
        },
        (err: unknown) => {
          this.#startingDatapath = false;
          this.#fail(err);
        },
      );
      return;
    }
    this.#run(t0, t1);
  }

  /** The rest of the switchover, once devices and backends are in place: the vCPUs run, SHUT goes. */
  #run(t0: number, t1: number): void {
    const vm = this.#vm;
    const nic = vm.nic;
    const t2 = nowMs();
    trace('incoming_devices_applied', undefined, t2);
    for (const v of vm.vcpus) {
      const st = this.#vcpuStates.get(v.index)!;
      v.setGuestNowNs(st.guestClockNs);
      v.setPendingInterrupts(st.irqPending);
    }
    this.#switchedOver = true;
    let t4 = 0;
    let rarpSent = false;
    // "Running" goes to the source the moment the vCPUs run: its downtime ends
    // when this lands. What follows in this same synchronous step — the NIC
    // unquiesced — cannot be observed before it (the NIC acts only from
    // later event-loop turns).
    vm.startIncoming(() => {
      t4 = nowMs();
      if (this.#returnPath) this.#reply({ type: 'shut', status: 0 });
      // The first RARP right after SHUT, before the NIC and the rest of the
      // resume (self-announce.ts): the switch then sends the guest's traffic
      // here 2–4 ms sooner (the switchover trace, docs/BENCHMARKS.md).
      rarpSent = nic !== undefined && this.#opts.announce.rounds > 0 && nic.sendRarp();
    });
    // From here to the bookkeeping: the resumed guest's first packets (switchover-window.ts).
    // Not from the final pages' arrival: raising the priority there cost ~0.5 ms of downtime
    // (an interleaved A/B: the device sections began 2.2 ms after the source's last write, not 0.8).
    this.#closeWindow = openSwitchoverWindow(vm);
    const t5 = nowMs();
    trace('incoming_running', undefined, t4);
    // What the device holds after the load, before the guest can change it
    // (the guest reaches the device only through this thread's later turns).
    if (nic && this.#opts.recordDeviceState()) this.loadedNetState = nic.saveState() as unknown as VmState;
    // The rest is bookkeeping, and the resumed guest's first frames come
    // first: run in this step, it held this thread 2–5 ms after "running"
    // (cold code on a busy host), and the first frame read from the TAP
    // waited for it (the switchover trace, docs/BENCHMARKS.md).
    const at = { t0, t1, t2, t4, stepEnd: t5, rarpSent };
    this.#afterRunning = { timer: setTimeout(() => this.#complete(at, { announce: true }), BOOKKEEPING_DELAY_MS), at };
  }

  /**
   * After the guest's first milliseconds here: the guest's own announce, the
   * report, the link closed, `completed`. Without the announce when the VM is
   * shutting down (close() before the delay ran out).
   */
  #complete(at: SwitchoverInstants, options: { announce: boolean }): void {
    if (this.#afterRunning) clearTimeout(this.#afterRunning.timer);
    this.#afterRunning = undefined;
    this.#releaseHolds();
    const { t0, t1, t2, t4 } = at;
    const nic = this.#vm.nic;
    const announceFrom = nowMs();
    // The announce rounds (QEMU arms qemu_announce_self's timer at vm_start):
    // the first RARP went out with "running"; the first round here asks a
    // guest that negotiated GUEST_ANNOUNCE to announce itself.
    if (nic && options.announce) this.#announce = announceSelf(nic, this.#opts.announce, { rarpSent: at.rarpSent });
    const announceTo = nowMs();
    // resume: the vCPUs' clocks and pending interrupts restored, the vCPUs woken.
    // announce: arming it, after "running" (outside the downtime).
    Object.assign(this.#phases, { deviceLoad: t1 - t0, backendAttach: t2 - t1, resume: t4 - t2, announce: announceTo - announceFrom });
    // Host monotonic times (ms): comparable with the source's when both run on one host.
    const report: DestinationReport = {
      ok: true,
      phases: { deviceLoadMs: t1 - t0, backendAttachMs: t2 - t1, resumeMs: t4 - t2, announceMs: announceTo - announceFrom, devicesAfterRunningMs: at.stepEnd - t4 },
      times: { eofAt: this.#eofAt, runningAt: t4, shutAt: t4 },
    };
    // The destination's virtio-net work inside the downtime: decoding its section (or delta), loading, attaching.
    report.netDowntimeMs = this.#netDecodeMs + this.#deltaDecodeMs + (t2 - t0);
    if (this.#delta) {
      report.early = { setupLoadMs: this.#earlySetupMs, downtimeLoadMs: this.#deltaDecodeMs + (t2 - t0), changed: this.#delta.changed, fullReload: this.#delta.fullReload };
    }
    if (this.#cpuLatency?.report) report.cpuLatency = this.#cpuLatency.report;
    if (this.#returnPath) this.#reply({ type: 'report', report });
    this.#finishLink();
    this.#setStatus('completed');
    this.#resolveDone(true);
  }

  #fail(err: unknown): void {
    if (this.#status === 'failed') return;
    this.#releaseHolds();
    this.#error = describeError(err);
    this.#vm.log(`incoming migration failed: ${this.#error}`);
    this.#setStatus('failed');
    const link = this.#link;
    if (!link || link.closed) {
      this.#finishLink();
      this.#resolveDone(false);
      return;
    }
    // Tell the source why, then keep reading (and dropping) until it hangs
    // up: closing a socket with unread bytes resets it, and the reset can
    // overtake our report.
    this.#reply({ type: 'report', report: { ok: false, error: this.#error } });
    this.#reply({ type: 'shut', status: 1 });
    const timer = setTimeout(() => link.destroy(), REFUSAL_LINGER_MS);
    this.#lingering = () => {
      clearTimeout(timer);
      this.#finishLink();
      this.#resolveDone(false);
    };
  }

  /** Flush our last messages, then close. */
  #finishLink(): void {
    this.#stopFile?.();
    void this.#listener?.close();
    const link = this.#link;
    if (link) void link.end().then(() => setTimeout(() => link.destroy(), 200).unref());
  }

  #reply(m: ReturnPathMessage): void {
    this.#link?.write(encodeReturnPath(m));
  }

  /** Give up (the VM is shutting down). */
  close(): void {
    this.#closed = true;
    // The guest ran here: the migration completed, whatever comes next.
    if (this.#afterRunning) this.#complete(this.#afterRunning.at, { announce: false });
    this.#releaseHolds();
    this.#announce?.stop();
    this.#stopFile?.();
    void this.#listener?.close();
    this.#link?.destroy();
  }
}

/** A codec that reports how long each load took (what an early or delta section costs the destination). */
function timed(codec: SectionCodec, add: (ms: number) => void): SectionCodec {
  return {
    load(r, h) {
      const t0 = nowMs();
      try {
        return codec.load(r, h);
      } finally {
        add(nowMs() - t0);
      }
    },
    save: codec.save,
  };
}

function vmsdCodec(vmsd: Vmsd, ctx: VmstateContext): SectionCodec {
  return {
    load(r, header) {
      const state: VmState = {};
      loadState(r, vmsd, state, header.version, ctx);
      return state;
    },
    save(w: ByteWriter, state: VmState) {
      saveState(w, vmsd, state, ctx);
    },
  };
}

/**
 * The source side of a live migration (DESIGN §5), QEMU's pre-copy:
 *
 *   setup   connect; header, configuration, [OPEN_RETURN_PATH, PING],
 *           vmig-guest (FULL), RAM START (block list)
 *   active  RAM passes in PART sections: every page first, then the pages
 *           dirtied during the previous pass, rate-limited to max-bandwidth.
 *           After each pass the dirty log is synced; the source switches
 *           over once the remaining bytes fit in downtime-limit at the
 *           measured bandwidth (and, with switchover-ack, once the
 *           destination has acknowledged)
 *   device  stop vCPUs, quiesce virtio-net, RAM END with the last dirty
 *           pages, vmig-vcpu and virtio-net FULL sections, EOF, vmdesc;
 *           then wait for the destination's SHUT on the return path
 *
 * Any failure before the destination reports "running" resumes the VM here:
 * the guest never runs on both sides, or on neither.
 */

import { ByteWriter, VmigError, describeError, trace } from '../core/index.js';
import { connectMigration, copyBytes, openMigrationFileSink } from '../host/index.js';
import type { MigrationLink } from '../host/index.js';
import { GUEST_FIRMWARE_BUILD_ID, GUEST_RAM_LAYOUT_VERSION } from '../guest/index.vmm.js';
import type { DirtySnapshot } from '../memory/index.js';
import { MIG_CMD_OPEN_RETURN_PATH, MIG_CMD_PING, StreamEncoder } from '../stream/index.js';
import type { SectionHeader } from '../stream/index.js';
import type { VmState, Vmsd, VmstateContext } from '../vmstate/index.js';
import { PageScanner, allPages, pagesOf } from './ram-pages.js';
import { SEND_BUFFER_BYTES, StreamSender, sleep } from './stream-sender.js';
import { encodeDeviceSections, rehearseStopEncoding, vmdescJson, writeFullSection, writeRamStart } from './stop-encoding.js';
import { openSwitchoverWindow } from './switchover-window.js';
import { holdMigrationCpuLatency } from './cpu-latency-hold.js';
import type { CpuLatencyHold } from './cpu-latency-hold.js';
import type { EarlyInForce, StopSectionIds, WrittenSection } from './stop-encoding.js';
import type { VirtioSavedState } from '../virtio/index.js';
import { ReturnPathDecoder } from './return-path.js';
import type { DestinationReport } from './return-path.js';
import type { MigrationUri } from './uri.js';
import { GUEST_SECTION_IDSTR, guestSectionVmsd } from './vmig-sections.js';
import type { GuestSectionState } from './vmig-sections.js';
import { emptyRamStats, nowMs } from './migration-types.js';
import { attributeDestinationPhases, outgoingInfo } from './outgoing-report.js';
import type { EarlyOutcome } from './outgoing-report.js';
import type { DowntimePhases, MigratableVm, MigrationCapability, MigrationParameters, MigrationStatus, RamStats } from './migration-types.js';

export const SECTION_ID = { guest: 1, ram: 2, nicEarly: 3, vcpu: 10, nic: 40 } as const;
const RAM_VERSION = 4;
export const STOP_SECTION_IDS: StopSectionIds = { vcpu: SECTION_ID.vcpu, nic: SECTION_ID.nic, ram: { sectionId: SECTION_ID.ram, version: RAM_VERSION } };
/** How long a completed migration waits for the destination's report (phases, instants) after its SHUT. */
const REPORT_WAIT_MS = 1000;
/**
 * The remainder the stop takes as it is. Above it, once the rest fits in
 * downtime-limit, the remainder goes as one more short pass first — up to
 * MAX_TIGHT_PASSES of them, while each at least halves it. A pass of a few
 * dozen pages and its barrier take a millisecond or two, in which a guest
 * dirtying 4 MB/s dirties a page or two: the stop then copies, sends and
 * loads a handful of pages instead of a few dozen (docs/BENCHMARKS.md,
 * bench:early, session 7). The remainder used to go as it was up to 64 pages.
 */
export const FINAL_PAGES = 8;
export const MAX_TIGHT_PASSES = 4;

/**
 * Once the rest fits in downtime-limit (and the switchover is acknowledged):
 * stop now with `remainder` pages, or send them as one more short pass?
 * `passes` short passes were sent already, the last of them starting from
 * `lastRemainder` pages.
 */
export function stopWithRemainder(remainder: number, passes: number, lastRemainder: number): boolean {
  return remainder <= FINAL_PAGES || passes >= MAX_TIGHT_PASSES || (passes > 0 && remainder * 2 > lastRemainder);
}

export interface OutgoingOptions {
  uri: MigrationUri;
  parameters: Readonly<MigrationParameters>;
  capabilities: ReadonlySet<MigrationCapability>;
}

class Aborted extends Error {}

export class OutgoingMigration {
  readonly #vm: MigratableVm;
  readonly #opts: OutgoingOptions;
  readonly #returnPath: boolean;
  readonly #sender: StreamSender;
  #status: MigrationStatus = 'none';
  #link: MigrationLink | undefined;
  #error: string | undefined;
  readonly #ram: RamStats;
  readonly #phases: DowntimePhases = {};
  #startedAt = 0;
  #setupMs: number | undefined;
  #totalMs: number | undefined;
  #downtimeMs: number | undefined;
  #downtimeStart = 0;
  #expectedDowntimeMs: number;
  #vmStopped = false;
  #switchoverAcked = false;
  #destReport: DestinationReport | undefined;
  #shut: ((status: number) => void) | undefined;
  /** SHUT's status once it has arrived (it can arrive while the last bytes are still draining). */
  #shutStatus: number | undefined;
  /** A successful destination sends SHUT first, then its report: called when the report (or the hang-up) comes. */
  #reportArrived: (() => void) | undefined;
  /** Highest PING value the destination has answered, and who waits for which. */
  #ponged = 0;
  #pongWaiters: { value: number; resolve: () => void }[] = [];
  #pingSeq = 1;
  #abort!: (err: Error) => void;
  readonly #aborted: Promise<never>;
  #bandwidth = 0;
  #destHello: DestinationReport['hello'];
  #early: EarlyOutcome | undefined;
  #earlyState: VirtioSavedState | undefined;
  #cpuLatency: CpuLatencyHold | undefined;
  /** The virtio-net state as it was saved at the stop (for comparison with the destination's). */
  sentNetState: VmState | undefined;
  readonly done: Promise<void>;

  constructor(vm: MigratableVm, options: OutgoingOptions) {
    this.#vm = vm;
    this.#opts = options;
    this.#returnPath = options.uri.kind !== 'file' && options.capabilities.has('return-path');
    this.#ram = emptyRamStats(vm.memory.size);
    this.#expectedDowntimeMs = options.parameters.downtimeLimitMs;
    this.#aborted = new Promise<never>((_, reject) => {
      this.#abort = reject;
    });
    this.#aborted.catch(() => undefined);
    const self = this;
    this.#sender = new StreamSender({
      get link() {
        return self.#link!;
      },
      checkCancelled: () => {
        if (this.#status === 'cancelling') throw new Aborted('cancelled');
      },
      // Read at every batch: migrate-set-parameters may change it mid-migration.
      get maxBandwidth() {
        return options.parameters.maxBandwidth;
      },
      race: (p) => this.#race(p),
      ram: this.#ram,
      ramSection: STOP_SECTION_IDS.ram,
    });
    this.done = this.#run();
  }

  get status(): MigrationStatus {
    return this.#status;
  }

  get error(): string | undefined {
    return this.#error;
  }

  get finished(): boolean {
    return this.#status === 'completed' || this.#status === 'failed' || this.#status === 'cancelled';
  }

  /** migrate_cancel: works in every state; a VM already stopped runs again. */
  cancel(): void {
    if (this.finished || this.#status === 'cancelling') return;
    this.#setStatus('cancelling');
    this.#abort(new Aborted('cancelled'));
  }

  /** query-migrate, QEMU's members plus `x-vmig`. */
  info(): Record<string, unknown> {
    return outgoingInfo({
      status: this.#status,
      now: nowMs(),
      startedAt: this.#startedAt,
      setupMs: this.#setupMs,
      totalMs: this.#totalMs,
      ram: this.#ram,
      expectedDowntimeMs: this.#expectedDowntimeMs,
      downtimeMs: this.#downtimeMs,
      downtimeStart: this.#downtimeStart,
      error: this.#error,
      uri: this.#opts.uri,
      returnPath: this.#returnPath,
      phases: this.#phases,
      early: this.#early,
      destReport: this.#destReport,
      cpuLatency: this.#cpuLatency?.report,
    });
  }

  #setStatus(s: MigrationStatus): void {
    if (this.#status === s) return;
    this.#status = s;
    if (this.#opts.capabilities.has('events')) this.#vm.emitEvent('MIGRATION', { status: s });
  }

  async #run(): Promise<void> {
    this.#startedAt = nowMs();
    this.#setStatus('setup');
    // Held until the migration ends, whichever way (cpu-latency-hold.ts).
    this.#cpuLatency = holdMigrationCpuLatency(this.#opts.parameters.cpuLatencyUs);
    try {
      await this.#race(this.#open());
      trace('migrate_setup');
      // Pages come out of guest RAM (shared memory): copied by the host's memmove (host/copy-bytes.ts).
      const enc = new StreamEncoder({ copyPage: copyBytes }, SEND_BUFFER_BYTES);
      this.#setupHead(enc);
      await this.#sender.flush(enc, 'none');
      await this.#decideEarly(enc);
      this.#setupRam(enc);
      await this.#sender.flush(enc, 'none');
      this.#setupMs = nowMs() - this.#startedAt;
      this.#setStatus('active');
      // The stop's own code, run ahead (stop-encoding.ts); what a source needs of the
      // device paths (save, compare, encode) is in it, so warmUpNetPaths is not run here.
      await this.#race(rehearseStopEncoding(this.#vm, STOP_SECTION_IDS, this.#earlyInForce(), { stop: () => this.#status !== 'active' }));
      const last = await this.#precopy(enc);
      await this.#stopAndCopy(enc, last);
      this.#complete();
    } catch (err) {
      this.#failed(err);
    } finally {
      this.#cpuLatency?.release();
    }
  }

  async #open(): Promise<void> {
    const u = this.#opts.uri;
    if (u.kind === 'file') {
      this.#link = openMigrationFileSink(u.path);
      return;
    }
    const rp = new ReturnPathDecoder();
    this.#link = await connectMigration(u.kind === 'tcp' ? { kind: 'tcp', host: u.host, port: u.port } : { kind: 'unix', path: u.path }, {
      onData: (chunk) => {
        try {
          for (const m of rp.push(chunk)) {
            if (m.type === 'switchover-ack') {
              this.#switchoverAcked = true;
              trace('migrate_early_acked');
            }
            else if (m.type === 'report' && m.report.hello) this.#destHello = m.report.hello;
            else if (m.type === 'report') {
              this.#destReport = m.report;
              this.#reportArrived?.();
              if (!m.report.ok) this.#abort(new VmigError('ERR_MIGRATE_DESTINATION_REFUSED', `the destination refused: ${m.report.error ?? 'no reason given'}`));
            }
            else if (m.type === 'shut') {
              this.#shutStatus = m.status;
              this.#shut?.(m.status);
            }
            else if (m.type === 'pong') this.#pong(m.value);
          }
        } catch (err) {
          this.#abort(err as Error);
        }
      },
      onClose: (err) => {
        this.#reportArrived?.();
        const why = this.#destReport?.ok === false ? `the destination refused: ${this.#destReport.error}` : err ? describeError(err) : 'the destination closed the connection';
        this.#abort(new VmigError('ERR_MIGRATE_DESTINATION_GONE', why));
      },
    });
    if (this.#status === 'cancelling') throw new Aborted('cancelled');
  }

  #setupHead(enc: StreamEncoder): void {
    const vm = this.#vm;
    enc.header().configuration({ machine: vm.machineType });
    if (this.#returnPath) {
      enc.command(MIG_CMD_OPEN_RETURN_PATH);
      enc.command(MIG_CMD_PING, new ByteWriter(4).u32be(1).finish());
    }
    const guest: GuestSectionState = { firmwareBuildId: GUEST_FIRMWARE_BUILD_ID, ramLayoutVersion: GUEST_RAM_LAYOUT_VERSION, vcpuCount: vm.vcpus.length, ramBytes: BigInt(vm.memory.size) };
    this.#fullSection(enc, { kind: 'full', sectionId: SECTION_ID.guest, idstr: GUEST_SECTION_IDSTR, instanceId: 0, version: 1 }, guestSectionVmsd, { ...guest });
  }

  /**
   * Early virtio-net migration (early-net.ts): used when this NIC has
   * early-mig on and the destination said (its hello, before PONG 1) that it
   * takes it; otherwise the classic path, and query-migrate and an
   * X_VMIG_EARLY_MIGRATION event say why.
   */
  async #decideEarly(enc: StreamEncoder): Promise<void> {
    const vm = this.#vm;
    const nic = vm.nic;
    const mine = vm.earlyMigration();
    if (!nic || !mine.enabled) {
      this.#early = { used: false, policy: mine.policy, reason: nic ? 'early-mig is off on the source' : 'no virtio-net device' };
      return;
    }
    if (!this.#returnPath) {
      this.#early = { used: false, policy: mine.policy, reason: 'no return path (the destination could not acknowledge its early load)' };
    } else {
      if (this.#ponged < 1) await this.#race(new Promise<void>((resolve) => this.#pongWaiters.push({ value: 1, resolve })));
      const hello = this.#destHello;
      if (!hello?.earlyMig) this.#early = { used: false, policy: mine.policy, reason: hello ? 'early-mig is off on the destination' : 'the destination does not support early migration' };
      else this.#early = { used: true, policy: mine.policy };
    }
    if (!this.#early.used) {
      vm.emitEvent('X_VMIG_EARLY_MIGRATION', { status: 'negotiated-down', reason: this.#early.reason! });
      return;
    }
    vm.emitEvent('X_VMIG_EARLY_MIGRATION', { status: 'used', policy: mine.policy });
    const st = nic.saveState();
    this.#earlyState = st;
    const before = enc.pendingBytes;
    this.#fullSection(enc, { kind: 'full', sectionId: SECTION_ID.nicEarly, idstr: `${vm.nicIdstr}-early`, instanceId: 0, version: nic.sectionVmsd().version }, nic.sectionVmsd(), st as unknown as VmState, nic.vmstateContext());
    this.#early.earlyBytes = enc.pendingBytes - before;
    trace('migrate_early_sent');
  }

  #earlyInForce(): EarlyInForce | undefined {
    return this.#early?.used && this.#earlyState ? { policy: this.#early.policy, sent: this.#earlyState } : undefined;
  }

  #setupRam(enc: StreamEncoder): void {
    const vm = this.#vm;
    // Dirty logging starts now: the first pass sends every page anyway.
    vm.memory.dirty.fetchAndClear();
    writeRamStart(enc, STOP_SECTION_IDS.ram, vm.memory.size);
    this.#ram.dirtySyncCount = 1;
    if (this.#opts.capabilities.has('events')) vm.emitEvent('MIGRATION_PASS', { pass: 1 });
  }

  /** Sections saved so far, for the vmdesc (built after EOF, outside the downtime). */
  readonly #saved: WrittenSection[] = [];

  #fullSection(enc: StreamEncoder, h: SectionHeader, vmsd: Vmsd, state: VmState, ctx: VmstateContext = {}): void {
    writeFullSection(this.#saved, enc, h, vmsd, state, ctx);
  }

  /**
   * The trailing JSON description. The destination switches over at EOF and
   * only skips this, so it is built after EOF has gone out: describing the
   * virtio-net section costs milliseconds that would otherwise be downtime.
   */
  #vmdescJson(): string {
    return vmdescJson(this.#saved);
  }

  /** Pre-copy passes until the rest fits in downtime-limit. Returns the dirty pages not sent yet. */
  #pong(value: number): void {
    this.#ponged = Math.max(this.#ponged, value);
    this.#pongWaiters = this.#pongWaiters.filter((w) => {
      if (w.value > this.#ponged) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * A PING after the pass's pages; the destination answers it only once it
   * has loaded everything before it. Waiting for the answer means the
   * switchover never starts with the destination still digesting pre-copy
   * data from socket buffers — that backlog would otherwise land inside the
   * downtime. (QEMU's PING/PONG, used here as a barrier.)
   */
  async #barrier(enc: StreamEncoder): Promise<void> {
    const value = ++this.#pingSeq;
    enc.command(MIG_CMD_PING, new ByteWriter(4).u32be(value).finish());
    await this.#sender.flush(enc, 'none');
    if (this.#ponged >= value) return;
    await this.#race(new Promise<void>((resolve) => this.#pongWaiters.push({ value, resolve })));
  }

  async #precopy(enc: StreamEncoder): Promise<DirtySnapshot> {
    const mem = this.#vm.memory;
    const scanner = new PageScanner(mem);
    let pages = allPages(mem.pageCount);
    let tightPasses = 0;
    let lastRemainder = 0;
    for (;;) {
      const passStart = nowMs();
      const bytesBefore = this.#ram.transferred;
      // The tightening pass goes at full speed, as QEMU's completion stage
      // does (it lifts the rate limit): the guest dirties pages the whole
      // time it takes, and they all land in the downtime.
      await this.#sender.sendPages(enc, scanner, pages, 'part', tightPasses > 0 ? 'yield' : 'rate');
      if (this.#returnPath) await this.#barrier(enc);
      const elapsed = Math.max(nowMs() - passStart, 0.001);
      const snap = mem.dirty.fetchAndClear();
      const dirty = snap.count();
      trace('migrate_pass_end', dirty);
      this.#ram.dirtySyncCount++;
      if (this.#opts.capabilities.has('events')) this.#vm.emitEvent('MIGRATION_PASS', { pass: this.#ram.dirtySyncCount });
      const sent = this.#ram.transferred - bytesBefore;
      // Bandwidth as QEMU measures it: bytes over time, only from passes long enough to mean something.
      if (elapsed >= 10 || this.#bandwidth === 0) this.#bandwidth = (sent / elapsed) * 1000;
      this.#ram.mbps = (this.#bandwidth * 8) / 1e6;
      this.#ram.dirtyPagesRate = Math.round((dirty / elapsed) * 1000);
      this.#ram.remaining = dirty * 4096;
      this.#expectedDowntimeMs = this.#bandwidth > 0 ? (this.#ram.remaining / this.#bandwidth) * 1000 : this.#opts.parameters.downtimeLimitMs;
      const fits = this.#expectedDowntimeMs <= this.#opts.parameters.downtimeLimitMs;
      // Early migration always waits for the destination's early load (the acknowledgement the RFC lacks).
      // Without a return path (file:) nobody can acknowledge: switchover-ack does not apply.
      const needAck = this.#returnPath && (this.#opts.capabilities.has('switchover-ack') || this.#early?.used === true);
      const acked = !needAck || this.#switchoverAcked;
      pages = pagesOf(snap);
      if (fits && acked) {
        // QEMU would stop here. vmig first sends the remainder as short passes
        // (FINAL_PAGES): each takes milliseconds, so what is left for the
        // downtime is only what the guest dirtied during the last of them.
        if (stopWithRemainder(pages.length, tightPasses, lastRemainder)) return snap;
        tightPasses++;
        lastRemainder = pages.length;
      }
      // Nothing dirty yet but waiting for the acknowledgement: don't spin.
      if (pages.length === 0) await this.#race(sleep(5));
    }
  }

  async #stopAndCopy(enc: StreamEncoder, last: DirtySnapshot): Promise<void> {
    const closeWindow = openSwitchoverWindow(this.#vm);
    try {
      await this.#stopAndCopyInWindow(enc, last, closeWindow);
    } finally {
      closeWindow();
    }
  }

  async #stopAndCopyInWindow(enc: StreamEncoder, last: DirtySnapshot, closeWindow: () => void): Promise<void> {
    const vm = this.#vm;
    this.#downtimeStart = nowMs();
    trace('migrate_stop', undefined, this.#downtimeStart);
    this.#setStatus('device');
    this.#phases.vcpuPause = await vm.stopForMigration();
    this.#vmStopped = true;
    if (this.#status === 'cancelling') throw new Aborted('cancelled');
    const t0 = nowMs();
    const finalPages = pagesOf(last, vm.memory.dirty.fetchAndClear());
    const bytesBefore = this.#ram.transferred;
    const scanner = new PageScanner(vm.memory);
    await this.#sender.sendPages(enc, scanner, finalPages, 'end', 'none');
    const tRam = nowMs();
    trace('migrate_final_ram_sent', finalPages.length, tRam);
    this.#phases.ramSave = tRam - t0;
    const out = encodeDeviceSections(enc, vm, STOP_SECTION_IDS, this.#earlyInForce(), (e, h, vmsd, state, ctx) => this.#fullSection(e, h, vmsd, state, ctx));
    if (out.netState) this.sentNetState = out.netState as unknown as VmState;
    if (out.delta) Object.assign(this.#early!, { deltaBytes: out.delta.bytes, changed: out.delta.changed, fullReload: out.delta.fullReload });
    const t1 = nowMs();
    trace('migrate_device_saved', enc.pendingBytes, t1);
    this.#phases.deviceSave = t1 - tRam;
    await this.#sender.flush(enc, 'none');
    if (this.#opts.uri.kind === 'file') {
      enc.vmdesc(this.#vmdescJson());
      await this.#sender.flush(enc, 'none');
      await this.#link!.end();
    } else {
      await this.#race(this.#link!.drained());
    }
    this.#phases.finalTransfer = nowMs() - t1;
    trace('migrate_drained', undefined, t1 + this.#phases.finalTransfer);
    this.#ram.downtimeBytes = this.#ram.transferred - bytesBefore;
    this.#ram.remaining = 0;
    if (!this.#returnPath) {
      this.#downtimeMs = nowMs() - this.#downtimeStart;
      return;
    }
    const sentAt = nowMs();
    const status = this.#shutStatus ?? (await this.#race(new Promise<number>((resolve) => (this.#shut = resolve))));
    const shutAt = nowMs();
    closeWindow();
    trace('migrate_shut_received', status, shutAt);
    if (status !== 0) throw new VmigError('ERR_MIGRATE_DESTINATION_FAILED', this.#destReport?.error ? `the destination failed: ${this.#destReport.error}` : `the destination failed (status ${status})`);
    this.#downtimeMs = shutAt - this.#downtimeStart;
    // The trailing vmdesc goes out now: on a socket the destination only skips
    // it, and building it while the destination finishes would delay our
    // reading of its SHUT. The bytes on the wire are the same: EOF, then vmdesc.
    enc.vmdesc(this.#vmdescJson());
    this.#link!.write(enc.take());
    if (!this.#destReport?.phases) await this.#destinationReport();
    attributeDestinationPhases(this.#phases, this.#destReport, { t1, sentAt, shutAt });
  }

  /** The destination's report, which follows its SHUT; a destination that sends none is not waited for long. */
  #destinationReport(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#reportArrived?.(), REPORT_WAIT_MS);
      this.#reportArrived = () => {
        this.#reportArrived = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #complete(): void {
    this.#totalMs = nowMs() - this.#startedAt;
    this.#ram.precopyBytes = this.#ram.transferred - this.#ram.downtimeBytes;
    this.#ram.pagesPerSecond = Math.round(((this.#ram.normal + this.#ram.duplicate) / this.#totalMs) * 1000);
    this.#link?.destroy();
    this.#vm.migrationCompleted();
    this.#setStatus('completed');
  }

  #failed(err: unknown): void {
    const cancelled = err instanceof Aborted || this.#status === 'cancelling';
    this.#link?.destroy();
    this.#totalMs = nowMs() - this.#startedAt;
    this.#downtimeMs = undefined;
    if (this.#vmStopped) this.#vm.resumeAfterFailedMigration();
    if (cancelled) {
      this.#setStatus('cancelled');
      return;
    }
    const why = this.#destReport?.ok === false && this.#destReport.error ? `the destination refused: ${this.#destReport.error}` : describeError(err);
    this.#error = why;
    this.#vm.log(`migration failed: ${why}`);
    this.#setStatus('failed');
  }

  #race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.#aborted]);
  }
}


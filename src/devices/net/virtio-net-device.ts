/**
 * VirtioNetDevice: the virtio-net device model (virtio 1.2 §5.1) behind a
 * virtio-pci transport, with QEMU's behaviour (hw/net/virtio-net.c) wherever
 * the guest or the migration stream can tell the difference.
 *
 *   vCPU MMIO ─▶ transport.read/write ─▶ readConfig / acceptFeatures / queueEnabled / driverOk / reset
 *   doorbell  ─▶ transport.notifyFromDriver(i) ─▶ notify(i)
 *                  rx vq 2p: the guest posted buffers ─▶ retry held frames, resume backend queue p
 *                  tx vq 2p+1: schedule a TX flush (QEMU's tx bh) ─▶ backend.send(p, …)
 *                  ctrl vq (last): run control commands (ctrl-queue.ts) at once
 *   backend   ─▶ rxReady(q) ─▶ receive ─▶ RSS picks the pair ─▶ filter ─▶ copy into rx vq ─▶ interrupt
 *             ─▶ txReady(q) ─▶ flush what waited
 *   VMM       ─▶ setLinkUp, announceSelf, queryRxFilter, quiesce/unquiesce, saveState/loadState
 *   early migration ─▶ loadProvisional (setup phase) ─▶ resyncAtSwitchover | applyCategories | loadState
 *
 * Queue layout (QEMU's numbering): rx0, tx0, rx1, tx1, …, ctrl. At realize
 * there are 2 × max_queue_pairs + 1 queues; feature negotiation re-lays them
 * out to max pairs when MQ or RSS is negotiated, else to one pair (ctrl = 2).
 *
 * Everything runs on the VMM's event loop and each step finishes before it
 * returns: a chain is popped, used and published in one go, or given back
 * (datapath.ts). That is what makes quiesce() synchronous — after it nothing
 * is half-processed, backend reading is paused, TX work is parked as
 * tx_waiting (migrated, resumed by unquiesce()). Guest errors never escape:
 * they mark the device broken and set DEVICE_NEEDS_RESET (QEMU's virtio_error).
 */

import { VmigError, trace } from '../../core/index.js';
import type { GuestMemory } from '../../memory/index.js';
import { VNET_HDR_LEN } from '../../backends/index.js';
import type { ExternalDatapath, ExternalRing, NetBackend, NetBackendClient } from '../../backends/index.js';
import { VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_F_EVENT_IDX, VIRTIO_NO_VECTOR, VirtioPciTransport, SplitQueue } from '../../virtio/index.js';
import type { RaiseVector, TransportQueue, VirtioDeviceModel, VirtioSavedState, VirtioTransportContext } from '../../virtio/index.js';
import type { Vmsd } from '../../vmstate/index.js';
import { AnnounceTimer, DEFAULT_ANNOUNCE_PARAMS, buildRarpFrame } from './announce.js';
import type { AnnounceParams, TimerHost } from './announce.js';
import { chainPayload, guestOffloadsByFeatures, handleCtrlCommand, netOffloadsOf } from './ctrl-queue.js';
import type { CtrlContext } from './ctrl-queue.js';
import { buildNetConfig, resolveNetConfig } from './net-config.js';
import type { ResolvedNetConfig, VirtioNetProperties } from './net-config.js';
import { NetState } from './net-state.js';
import { emptyQueueStats } from './net-stats.js';
import type { NetQueueStats } from './net-stats.js';
import { netSectionVmsd } from './net-vmstate.js';
import type { NetVmstateContext, QemuFlavor } from './net-vmstate.js';
import { buildPciConfig } from './pci-config.js';
import { QueuePairs } from './queue-pairs.js';
import type { PairHost } from './queue-pairs.js';
import { queryRxFilter } from './rx-filter-info.js';
import type { RxFilterInfo } from './rx-filter-info.js';
import { applyTransportPlan, buildSavedState, planLoad } from './saved-state.js';
import type { LoadPlan } from './saved-state.js';
import { CATEGORY_HANDLERS, applyNetTransport, planResync } from './category-load.js';
import type { CategoryTarget } from './category-load.js';
import { NET_STATE_CATEGORIES } from './state-categories.js';
import type { NetMinimalState, NetStateCategory } from './state-categories.js';
import {
  VIRTIO_NET_CTRL_QUEUE_SIZE,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_HDR_V1_SIZE,
  VIRTIO_NET_S_ANNOUNCE,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_NET_TX_BURST,
} from './spec-constants.js';

export interface VirtioNetDeviceOptions {
  /** Guest RAM: where the rings and buffers are. */
  memory: GuestMemory;
  /** The host side; the device attaches itself as its client. */
  backend: NetBackend;
  /** Deliver MSI-X vector `v` to the guest (set the pending bit in the vCPU's interrupt block, kick it). */
  raiseVector: RaiseVector;
  /** QEMU -device virtio-net-pci properties. */
  properties?: VirtioNetProperties;
  /** max_queue_pairs; default and at most backend.queuePairs (QEMU: the netdev's queues). */
  maxQueuePairs?: number;
  /** MSI-X vectors (QEMU `vectors`); default 2 × max_queue_pairs + 2. */
  vectors?: number;
  /** The NIC's name in query-rx-filter and NIC_RX_FILTER_CHANGED (QEMU: the -device id). */
  name?: string;
  /** Layout of the RSS subsection saveState() writes by default. */
  flavor?: QemuFlavor;
  /** Migration announce parameters for the post-load announce rounds. */
  announceParams?: AnnounceParams;
  /** Chains a TX flush takes before yielding (QEMU x-txburst, 256). */
  txBurst?: number;
  /** Frames one rxReady takes before yielding. */
  rxBurst?: number;
  /** Run `fn` on a later turn of the event loop (QEMU's bottom half); default setImmediate. */
  schedule?: (fn: () => void) => void;
  timers?: TimerHost;
  /** NIC_RX_FILTER_CHANGED: once, then again only after queryRxFilter(). */
  onRxFilterChanged?: (name: string) => void;
  /** A guest error (the device now needs a reset) or a backend failure; for the log. */
  onError?: (error: VmigError) => void;
}

const bit = (n: number): bigint => 1n << BigInt(n);

function sameRings(a: readonly ExternalRing[], b: readonly ExternalRing[]): boolean {
  return a.length === b.length && a.every((r, i) => {
    const o = b[i]!;
    return r.index === o.index && r.size === o.size && r.desc === o.desc && r.avail === o.avail && r.used === o.used;
  });
}
const RX_BURST = 64;

export class VirtioNetDevice implements VirtioDeviceModel, NetBackendClient {
  readonly transport: VirtioPciTransport;
  readonly memory: GuestMemory;
  readonly backend: NetBackend;
  readonly name: string;
  readonly hostFeatures: bigint;
  readonly maxQueuePairs: number;
  readonly net: NetState;
  readonly stats: NetQueueStats[];
  readonly #cfg: ResolvedNetConfig;
  readonly #pciConfig: Uint8Array;
  readonly #configCache: Uint8Array;
  readonly #flavor: QemuFlavor;
  readonly #announce: AnnounceTimer;
  readonly #announceParams: AnnounceParams;
  #backendAttached = true;
  /** Holds an early migration's state, loaded in the setup phase; not yet resynchronised with guest RAM. */
  #provisional = false;
  /** The VirtIONet status word the provisional load applied: the source's, which a resync puts back. */
  #provisionalStatus = 0;
  readonly #onRxFilterChanged: ((name: string) => void) | undefined;
  readonly #onError: ((error: VmigError) => void) | undefined;
  readonly #ctrl: CtrlContext;
  readonly #pairs: QueuePairs;
  /** The datapath outside the VMM (vhost-user), if the backend is one. */
  readonly #external: ExternalDatapath | undefined;
  #features = 0n;
  #layoutPairs: number;
  #queues: (SplitQueue | undefined)[];
  #broken = false;
  #quiesced = false;
  #ctrlPending = false;
  #lastError: VmigError | undefined;
  #rxFilterNotify = true;

  /**
   * @throws VmigError ERR_NET_BAD_PROPERTY for bad properties or options;
   *   BackendError ERR_BACKEND_ATTACHED when the backend serves another device
   */
  constructor(options: VirtioNetDeviceOptions) {
    const { memory, backend } = options;
    this.memory = memory;
    this.backend = backend;
    this.name = options.name ?? 'virtio-net-pci.0';
    this.#cfg = resolveNetConfig(options.properties ?? {}, backend);
    this.hostFeatures = this.#cfg.hostFeatures;
    const max = options.maxQueuePairs ?? backend.queuePairs;
    if (!Number.isInteger(max) || max < 1 || max > backend.queuePairs || 2 * max + 1 > 1024) {
      throw new VmigError('ERR_NET_BAD_PROPERTY', `max_queue_pairs ${max} must be 1..${Math.min(backend.queuePairs, 511)} (the ${backend.kind} backend has ${backend.queuePairs} queues)`, { details: { maxQueuePairs: max } });
    }
    this.maxQueuePairs = max;
    const vectors = options.vectors ?? 2 * max + 2;
    if (!Number.isInteger(vectors) || vectors < 0 || vectors > 2048) throw new VmigError('ERR_NET_BAD_PROPERTY', `vectors ${vectors} must be 0..2048`, { details: { vectors } });
    this.#flavor = options.flavor ?? '10.2';
    this.#onRxFilterChanged = options.onRxFilterChanged;
    this.#onError = options.onError;
    this.#announceParams = { ...(options.announceParams ?? DEFAULT_ANNOUNCE_PARAMS) };
    this.#announce = new AnnounceTimer(() => this.#guard(() => this.#announceTimerFired(), undefined), options.timers);
    this.net = new NetState(this.#cfg.mac, max);
    this.stats = Array.from({ length: max }, emptyQueueStats);
    this.#layoutPairs = max;
    this.#queues = new Array<SplitQueue | undefined>(2 * max + 1).fill(undefined);
    this.#configCache = new Uint8Array(this.#cfg.configSize);
    this.#pciConfig = buildPciConfig({ vectors, deviceConfigLen: this.#cfg.configSize, maxQueues: 2 * max + 1 });
    this.#ctrl = this.#ctrlContext();
    this.#pairs = new QueuePairs(this.#pairHost(options));
    // Last: the transport asks numQueues/queueMaxSize of a fully built device.
    this.transport = new VirtioPciTransport(this, vectors, options.raiseVector);
    this.#external = backend.external;
    // The external datapath signals a ring: raise its interrupt (QEMU's guest
    // notifier without irqfd). The datapath decided it was due (used flags,
    // event idx); not before DRIVER_OK nor while a migration's state is provisional.
    this.#external?.onCall((index) => {
      if (index < this.numQueues - 1 && this.#driverOk() && !this.#provisional) this.transport.interruptQueue(index);
    });
    backend.attach(this);
  }

  // ------------------------------------------------------------ facts

  get numQueues(): number {
    return 2 * this.#layoutPairs + 1;
  }

  /** Negotiated features (0 until FEATURES_OK, or as loaded). */
  get features(): bigint {
    return this.#features;
  }

  get broken(): boolean {
    return this.#broken;
  }

  get quiesced(): boolean {
    return this.#quiesced;
  }

  get linkUp(): boolean {
    return (this.net.status & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** The guest error that broke the device, if any. */
  get lastError(): VmigError | undefined {
    return this.#lastError;
  }

  /** The device side of virtqueue `index` (for inspection; undefined until the driver enabled it). */
  queue(index: number): SplitQueue | undefined {
    return this.#queues[index];
  }

  queueMaxSize(index: number): number {
    return this.#defaultSize(index, this.#layoutPairs);
  }

  /** Chains popped and not yet used, per queue (0 everywhere after quiesce()). */
  inFlight(): number[] {
    return this.#queues.map((q) => (q ? (q.lastAvailIdx - q.usedIdx) & 0xffff : 0));
  }

  #defaultSize(index: number, pairs: number): number {
    if (index < 2 * pairs) return index % 2 === 0 ? this.#cfg.rxQueueSize : this.#cfg.txQueueSize;
    return index === 2 * pairs ? VIRTIO_NET_CTRL_QUEUE_SIZE : 0;
  }

  #has(feature: number): boolean {
    return (this.#features & bit(feature)) !== 0n;
  }

  #driverOk(): boolean {
    return (this.transport.status & VIRTIO_CONFIG_S_DRIVER_OK) !== 0;
  }

  // ------------------------------------------------------------ VirtioDeviceModel (called by the transport)

  readConfig(offset: number, size: number): bigint {
    return this.#guard(() => {
      // QEMU virtio_config_modern_read: out of range reads as all ones; the cache is refreshed first.
      if (offset < 0 || offset + size > this.#configCache.length) return (1n << BigInt(8 * size)) - 1n;
      buildNetConfig(this.#configCache, this.net.mac, this.net.status, this.maxQueuePairs, this.hostFeatures);
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.#configCache[offset + i]!);
      return v;
    }, 0n);
  }

  writeConfig(offset: number, size: number, value: bigint): void {
    this.#guard(() => {
      if (offset < 0 || offset + size > this.#configCache.length) return;
      // The bytes land in the cache (and travel in the saved config), but under
      // VERSION_1 the MAC is read-only: QEMU's set_config changes nothing.
      for (let i = 0; i < size; i++) this.#configCache[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
    }, undefined);
  }

  acceptFeatures(features: bigint): boolean {
    return this.#guard(() => {
      this.#setFeatures(features);
      return true;
    }, false);
  }

  queueEnabled(index: number, tq: TransportQueue): void {
    this.#guard(() => {
      if (index >= this.numQueues || this.#broken) return;
      this.#queues[index] = new SplitQueue(this.memory, { size: tq.size, descAddr: tq.desc, availAddr: tq.driver, usedAddr: tq.device, eventIdx: this.#has(VIRTIO_F_EVENT_IDX) });
      this.#pairs.updateReading();
    }, undefined);
  }

  driverOk(): void {
    trace('net_driver_ok');
    this.#guard(() => this.#setStatus(), undefined);
    // QEMU's vhost_net_start at DRIVER_OK: the rings move to the external datapath.
    if (this.#external && !this.#provisional) this.startDatapath().catch((err: unknown) => this.backendError(undefined, err));
  }

  /** Called by the transport after its own reset (status 0; for a system reset call transport.reset()). */
  reset(): void {
    this.#guard(() => {
      this.#features = 0n;
      this.#broken = false;
      this.#lastError = undefined;
      this.#ctrlPending = false;
      this.#queues.fill(undefined);
      this.net.reset();
      this.#announce.stop();
      this.#pairs.reset();
      this.#pairs.updateReading();
      this.#external?.stop().catch((err: unknown) => this.backendError(undefined, err));
    }, undefined);
  }

  notify(index: number): void {
    this.#guard(() => {
      if (this.#broken || index >= this.numQueues || !this.#queues[index]) return;
      if (this.#external && index < this.numQueues - 1) {
        // The doorbell goes to the datapath's kick eventfd; a stopped datapath
        // finds it there when its rings start again.
        this.#external.kick(index);
      } else if (index === this.numQueues - 1) {
        if (this.#quiesced) this.#ctrlPending = true;
        else this.#processCtrl();
      } else if (index % 2 === 0) {
        if (!this.#quiesced) this.#pairs.retryHeld();
      } else {
        this.#pairs.txKick(index >> 1);
      }
    }, undefined);
  }

  // ------------------------------------------------------------ NetBackendClient (called by the backend)

  rxReady(queue: number): void {
    this.#guard(() => this.#pairs.rxReady(queue), undefined);
  }

  txReady(queue: number): void {
    this.#guard(() => this.#pairs.txReady(queue), undefined);
  }

  backendError(queue: number | undefined, error: unknown): void {
    const err = error instanceof VmigError ? error : new VmigError('ERR_NET_BACKEND_FAILED', `virtio-net ${this.name}: the ${this.backend.kind} backend failed${queue === undefined ? '' : ` on queue ${queue}`}`, { cause: error, details: { queue } });
    this.#onError?.(err);
  }

  // ------------------------------------------------------------ VMM controls

  /**
   * QMP set_link: LINK_UP in the status, a config interrupt when it changed
   * (QEMU virtio_net_set_link_status). On a migration destination before the
   * switchover it changes the status and the backend's link at once, as in
   * QEMU, but does not survive the load: the source's status wins on every
   * path (QEMU's load overwrites n->status and post_load derives link_down
   * from it) and attachBackend() brings the backend's link back in line.
   * While the device holds a provisional state no interrupt is raised
   * (#notifyConfig); the config-space copy is not touched (it is what the
   * guest last read, refreshed only by a guest read, as in QEMU).
   */
  setLinkUp(up: boolean): void {
    this.#guard(() => {
      this.#backendCall(() => this.backend.setLinkUp(up));
      if (this.#backendShape) this.#backendShape.link = up;
      const old = this.net.status;
      if (up) this.net.status |= VIRTIO_NET_S_LINK_UP;
      else this.net.status &= ~VIRTIO_NET_S_LINK_UP;
      if (this.net.status !== old) this.#notifyConfig();
      this.#setStatus();
    }, undefined);
  }

  /**
   * One round of qemu_announce_self for this NIC: a RARP from the configured
   * MAC through backend queue 0 (QEMU uses nic->conf->macaddr, not a MAC the
   * guest set — kept), then the NIC's announce hook (guestAnnounce()).
   */
  announceSelf(): { rarp: boolean; guest: boolean } {
    return this.#guard(() => ({ rarp: this.sendRarp(), guest: this.guestAnnounce() }), { rarp: false, guest: false });
  }

  /** A 60-byte RARP (vnet header in front) on backend queue 0; false when the link is down or the queue full. */
  sendRarp(): boolean {
    return this.#guard(() => {
      if (!this.linkUp) return false;
      const sent = this.#backendCall(() => this.backend.send(0, [new Uint8Array(VNET_HDR_LEN), buildRarpFrame(this.net.configuredMac)])) ?? false;
      if (sent) trace('net_rarp_sent');
      return sent;
    }, false);
  }

  /**
   * QEMU virtio_net_announce: ask the guest to announce itself (ANNOUNCE +
   * config interrupt) when GUEST_ANNOUNCE and CTRL_VQ are negotiated and the
   * post-migration announce timer is not already doing it.
   */
  guestAnnounce(): boolean {
    return this.#guard(() => {
      if (this.#announce.round > 0) return false;
      if (!this.#has(VIRTIO_NET_F_GUEST_ANNOUNCE) || !this.#has(VIRTIO_NET_F_CTRL_VQ)) return false;
      this.net.status |= VIRTIO_NET_S_ANNOUNCE;
      this.#notifyConfig();
      return true;
    }, false);
  }

  /** query-rx-filter's element for this NIC; re-enables NIC_RX_FILTER_CHANGED. */
  queryRxFilter(): RxFilterInfo {
    const info = queryRxFilter(this.name, this.net, this.#has(VIRTIO_NET_F_CTRL_VLAN));
    this.#rxFilterNotify = true;
    return info;
  }

  /**
   * Stop-and-copy: no more TX processing or backend RX; TX work is parked as
   * tx_waiting, announce rounds pause. Synchronous: when it returns no chain is
   * half-processed (every popped chain is used and published).
   */
  quiesce(): void {
    if (this.#quiesced) return;
    this.#quiesced = true;
    this.#announce.pause();
    this.#guard(() => this.#pairs.updateReading(), undefined);
    trace('net_quiesced');
  }

  /** The VM runs again (after quiesce(), or after loadState() on the destination). */
  unquiesce(): void {
    if (!this.#quiesced) return;
    this.#quiesced = false;
    this.#pairs.armFirstTrace();
    trace('net_unquiesced');
    this.#guard(() => {
      this.#announce.resume();
      this.#setStatus();
      if (this.#ctrlPending) {
        this.#ctrlPending = false;
        this.#processCtrl();
      }
    }, undefined);
  }

  /** The device's state in QEMU's layout (research §3–§4), `needed` rules applied. */
  saveState(options: { flavor?: QemuFlavor } = {}): VirtioSavedState {
    return buildSavedState(
      {
        transport: this.transport,
        hostFeatures: this.hostFeatures,
        configCache: this.#configCache,
        broken: this.#broken,
        queues: this.#queues,
        numQueues: this.numQueues,
        queueDefaultSize: (i) => this.queueMaxSize(i),
        net: this.net,
        hasVnetHdr: this.backend.hasVnetHdr,
        hasUfo: this.backend.hasUfo,
        pciConfig: this.#pciConfig,
      },
      options.flavor ?? this.#flavor,
    );
  }

  /**
   * Take a saved state (the destination's FULL section load). Everything is
   * checked before anything changes; guest RAM must be complete (ring indices
   * are read from it). The device is left quiesced: call unquiesce() when the
   * VM runs, which also starts the post-migration announce rounds.
   * @throws VmigError ERR_NET_STATE_MISMATCH, ERR_NET_STATE_INVALID
   */
  loadState(saved: VirtioSavedState, options: { deferBackendAttach?: boolean } = {}): void {
    const p = this.#plan(saved);
    this.#applyPlan(p);
    this.#loaded(p.availAhead);
    if (!options.deferBackendAttach) this.attachBackend();
  }

  /**
   * Early migration, setup phase (DESIGN §6): load `saved` into the device
   * before guest RAM has arrived — every check of loadState() except those
   * that read ring indices from RAM — and set the backend up from it (vnet
   * header, offloads, active queue pairs, link). Nothing the guest or the
   * network can see: the device stays quiesced, nothing is read from or
   * written to the backend, no interrupt, no announce. The switchover then
   * calls resyncAtSwitchover(), applyCategories() or loadState(); a
   * migration that fails before it leaves the VMM to exit with the guest
   * never run.
   * @throws VmigError ERR_NET_STATE_MISMATCH, ERR_NET_STATE_INVALID (nothing changed)
   */
  loadProvisional(saved: VirtioSavedState): void {
    const p = this.#plan(saved, false);
    this.#applyPlan(p);
    this.#provisional = true;
    this.#provisionalStatus = p.net.status;
    this.#shapeBackend({ offloads: p.net.currGuestOffloads, pairs: p.net.currQueuePairs, link: (p.net.status & VIRTIO_NET_S_LINK_UP) !== 0 });
  }

  /**
   * Early migration, switchover with no tracked category changed: apply the
   * minimal state to the provisionally loaded device — per-queue
   * last_avail_idx with the used idx read from guest RAM (checked as a full
   * load checks it), ISR, MSI-X PBA — put the provisional load's status
   * back (a set_link here since then does not survive), and arm the
   * announce. Call attachBackend() next.
   * @throws VmigError ERR_NET_NOT_PROVISIONAL (no provisional state),
   *   ERR_NET_STATE_INVALID (nothing changed)
   */
  resyncAtSwitchover(minimal: NetMinimalState): void {
    const r = this.#planResync(minimal, true);
    r.queues.forEach((q, i) => (this.#queues[i] = q));
    this.transport.isr = r.isr;
    this.transport.msixPba.set(r.pba);
    // Nothing changed on the source, but set_link (or announce-self) here may
    // have changed the status since the provisional load: the source's wins.
    this.net.status = this.#provisionalStatus;
    this.#loaded(r.availAhead);
  }

  /**
   * Early migration, switchover after the guest changed some categories:
   * `merged` is the whole current state (the early one with the changed
   * categories' values and the minimal state). It is checked in full, with
   * guest RAM; then only the `changed` categories are applied, each by its
   * own handler (category-load.ts), plus the minimal state and the
   * source's status (changed or not: a set_link here does not survive);
   * then the announce is armed. A transport change (features, MSI-X, PCI
   * config) has no handler: it needs loadState().
   * @throws VmigError ERR_NET_NOT_PROVISIONAL, ERR_NET_STATE_MISMATCH,
   *   ERR_NET_STATE_INVALID (the merged state does not fit; nothing changed)
   */
  applyCategories(merged: VirtioSavedState, changed: readonly NetStateCategory[]): void {
    this.#requireProvisional('applyCategories');
    const p = this.#plan(merged);
    // Only the transport category carries the features: a state that renegotiated cannot be applied by categories.
    if (p.features !== this.#features) throw new VmigError('ERR_NET_STATE_INVALID', `Cannot apply virtio-net categories: the state negotiated features 0x${p.features.toString(16)}, the provisional state 0x${this.#features.toString(16)} (a transport change needs a full load)`);
    if (!changed.includes('vq') && p.layoutPairs !== this.#layoutPairs) throw new VmigError('ERR_NET_STATE_INVALID', 'Cannot apply virtio-net categories: the queue layout differs but vq is not among the changes');
    const target = this.#categoryTarget();
    for (const c of changed) CATEGORY_HANDLERS[c](target, p);
    // Changed on the source or not, the status is the source's: set_link (or
    // announce-self) here since the provisional load must not survive it.
    if (!changed.includes('net-status')) CATEGORY_HANDLERS['net-status'](target, p);
    // The minimal state: the plan's queues carry last_avail_idx and the used idx checked against RAM.
    this.#queues = p.splitQueues;
    this.transport.isr = p.transport.isr;
    if (p.transport.msixPba) this.transport.msixPba.set(p.transport.msixPba);
    this.#loaded(p.availAhead);
  }

  /**
   * Every check resyncAtSwitchover() makes, without applying anything;
   * `ramLoaded: false` (guest RAM still arriving) leaves out the ones that
   * read ring indices from RAM. A destination runs it ahead of the
   * switchover so the code is warm inside the downtime (warm-up.ts).
   * @throws VmigError ERR_NET_NOT_PROVISIONAL, ERR_NET_STATE_INVALID
   */
  checkResync(minimal: NetMinimalState, options: { ramLoaded?: boolean } = {}): void {
    this.#planResync(minimal, options.ramLoaded !== false);
  }

  #planResync(minimal: NetMinimalState, ramLoaded: boolean) {
    this.#requireProvisional('resyncAtSwitchover');
    return planResync({ memory: this.memory, queues: this.#queues.slice(0, this.numQueues), pbaLength: this.transport.msixPba.length, ramLoaded }, minimal);
  }

  #requireProvisional(what: string): void {
    if (!this.#provisional) throw new VmigError('ERR_NET_NOT_PROVISIONAL', `virtio-net ${this.name}: ${what}() needs a state loaded by loadProvisional() first`);
  }

  /**
   * Every check loadState() makes, without applying anything: a destination
   * can refuse a state before it touches the device (and warm the code).
   * `ramLoaded: false` (early migration, before RAM has arrived) leaves out
   * the checks that read ring indices from guest RAM.
   * @throws VmigError ERR_NET_STATE_MISMATCH, ERR_NET_STATE_INVALID
   */
  checkState(saved: VirtioSavedState, options: { ramLoaded?: boolean } = {}): void {
    this.#plan(saved, options.ramLoaded);
  }

  #plan(saved: VirtioSavedState, ramLoaded?: boolean): LoadPlan {
    return planLoad(saved, {
      memory: this.memory,
      ...(ramLoaded === false ? { ramLoaded } : {}),
      hostFeatures: this.hostFeatures,
      maxQueuePairs: this.maxQueuePairs,
      vectors: this.transport.vectors,
      pciConfig: this.#pciConfig,
      queueDefaultSize: (i, pairs) => this.#defaultSize(i, pairs),
      transportQueues: this.transport.queues.length,
      configCache: this.#configCache,
      hasVnetHdr: this.backend.hasVnetHdr,
      hasUfo: this.backend.hasUfo,
    });
  }

  /**
   * The context netSectionVmsd() needs to encode or decode this device's
   * section: the layout facts that are not on the wire (MSI-X vectors, PCIe
   * config size, the loader's max_queue_pairs) and what the backend supports.
   */
  vmstateContext(): NetVmstateContext & VirtioTransportContext {
    return { msixVectors: this.transport.vectors, pciExpress: false, maxQueuePairs: this.maxQueuePairs, peerHasVnetHdr: this.backend.hasVnetHdr, peerHasUfo: this.backend.hasUfo };
  }

  /** The FULL section description for this device's flavor (`virtio-net`, version 11). */
  sectionVmsd(flavor: QemuFlavor = this.#flavor): Vmsd {
    return netSectionVmsd(flavor);
  }

  /** The VMM shuts down: timers stop, backend reading pauses (the backend's owner closes it). */
  // ------------------------------------------------------------ external datapath (vhost-user)

  /** The rings move in another process (vhost-user). */
  get externalDatapath(): boolean {
    return this.#external !== undefined;
  }

  /**
   * Start the external datapath from the device's state (QEMU
   * vhost_dev_start): prepare, then commit every ring's last_avail_idx.
   * Resolves when the backend acknowledged it all; nothing to do without an
   * external datapath.
   */
  async startDatapath(): Promise<void> {
    const ext = this.#external;
    if (!ext || !this.#driverOk()) return;
    // Running: the backend's indices are ahead of the device's; take them back first.
    await this.stopDatapath();
    // The guest may have reset the device meanwhile: then there is nothing to start.
    if (!this.#driverOk()) return;
    await ext.start(this.#features, this.#externalRings(), this.#ringBases());
  }

  /** Early migration, setup phase: everything but the ring bases (after loadProvisional()). */
  async prepareDatapath(): Promise<void> {
    const ext = this.#external;
    if (!ext) return;
    await this.stopDatapath();
    await ext.prepare(this.#features, this.#externalRings());
  }

  /**
   * Early migration, switchover: commit the bases when the prepared rings and
   * features still stand; otherwise (the guest re-laid its rings or
   * renegotiated) stop what was prepared and start from scratch.
   */
  async commitDatapath(): Promise<void> {
    const ext = this.#external;
    if (!ext) return;
    const prepared = ext.prepared;
    if (prepared && prepared.features === this.#features && sameRings(prepared.rings, this.#externalRings())) await ext.commit(this.#ringBases());
    else await this.startDatapath();
  }

  /**
   * Stop the external datapath (QEMU vhost_dev_stop) and take each ring's
   * next avail index back into the device, the used index from guest RAM:
   * the device's state is then what saveState() must send.
   */
  async stopDatapath(): Promise<void> {
    const ext = this.#external;
    if (!ext) return;
    // Only rings that ran have indices to take back: a prepared, uncommitted
    // ring's "base" is not the guest's (an early destination's device already
    // holds the source's).
    const { running, bases } = await ext.stop();
    if (!running) return;
    this.#guard(() => {
      for (const [index, base] of bases) this.#queues[index]?.takeOver(base);
    }, undefined);
  }

  #externalRings(): ExternalRing[] {
    const rings: ExternalRing[] = [];
    for (let i = 0; i < this.numQueues - 1; i++) {
      const st = this.#queues[i]?.getState();
      if (st) rings.push({ index: i, size: st.size, desc: Number(st.descAddr), avail: Number(st.availAddr), used: Number(st.usedAddr) });
    }
    return rings;
  }

  #ringBases(): { index: number; base: number }[] {
    return this.#externalRings().map((r) => ({ index: r.index, base: this.#queues[r.index]!.lastAvailIdx }));
  }

  close(): void {
    this.quiesce();
    this.#announce.stop();
    this.#pairs.reset();
  }

  // ------------------------------------------------------------ features, queue layout, status

  /** QEMU virtio_net_set_features. */
  #setFeatures(features: bigint): void {
    this.#features = features;
    const n = this.net;
    n.multiqueue = this.#has(VIRTIO_NET_F_MQ) || this.#has(VIRTIO_NET_F_RSS);
    this.#changeNumQueuePairs(n.multiqueue ? this.maxQueuePairs : 1);
    this.#setQueuePairs();
    n.mergeableRxBufs = this.#has(VIRTIO_NET_F_MRG_RXBUF) ? 1 : 0;
    this.#backendCall(() => this.backend.setVnetHdrLen(VIRTIO_NET_HDR_V1_SIZE));
    n.rss.redirect = this.#has(VIRTIO_NET_F_RSS);
    if (this.backend.hasVnetHdr) {
      n.currGuestOffloads = guestOffloadsByFeatures(features);
      this.#applyOffloads();
    }
    // Without CTRL_VLAN every VLAN passes; with it the guest adds the ones it wants.
    n.vlans.fill(this.#has(VIRTIO_NET_F_CTRL_VLAN) ? 0 : 0xff);
    n.changed();
  }

  /** QEMU virtio_net_change_num_queue_pairs: ctrl moves to the end of the new layout. */
  #changeNumQueuePairs(pairs: number): void {
    const oldCount = this.numQueues;
    if (pairs === this.#layoutPairs) return;
    this.#layoutPairs = pairs;
    const newCount = this.numQueues;
    for (let i = Math.min(oldCount, newCount) - 1; i < Math.max(oldCount, newCount); i++) {
      Object.assign(this.transport.queues[i]!, { size: this.queueMaxSize(i), enabled: false, vector: VIRTIO_NO_VECTOR, desc: 0n, driver: 0n, device: 0n });
      this.#queues[i] = undefined;
    }
    for (let p = pairs; p < this.maxQueuePairs; p++) {
      this.net.txWaiting[p] = 0;
      this.#pairs.removePair(p);
    }
  }

  /** QEMU virtio_net_set_queue_pairs: attach backend queues below curr_queue_pairs, detach the rest. */
  #setQueuePairs(pairs = this.net.currQueuePairs): void {
    if (this.maxQueuePairs === 1) return; // QEMU's peer_attach/detach do nothing for a single-queue TAP
    for (let q = 0; q < this.maxQueuePairs; q++) {
      const on = q < pairs;
      this.#backendCall(() => this.backend.setQueueEnabled(q, on));
    }
    if (this.#backendShape) this.#backendShape.pairs = pairs;
  }

  #applyOffloads(o = this.net.currGuestOffloads): void {
    const off = netOffloadsOf(o);
    this.#backendCall(() => this.backend.setOffloads(off));
    if (this.#backendShape) this.#backendShape.offloads = o;
  }

  /** QEMU virtio_net_set_status for every queue pair, then which backend queues to read. */
  #setStatus(): void {
    this.#pairs.setStatus();
    this.#pairs.updateReading();
  }

  #notifyConfig(): void {
    // QEMU virtio_notify_config: nothing before DRIVER_OK. Nor while the
    // device holds an early migration's state: the guest has not run here,
    // and the switchover replaces the status, ISR, MSI-X PBA and the vCPUs'
    // pending vectors with the source's, so the interrupt would announce a
    // change the guest never sees. (QEMU's classic destination, still reset
    // before its load, raises none either.)
    if (this.#driverOk() && !this.#provisional) this.transport.interruptConfig();
  }

  #notifyQueue(index: number): void {
    const vq = this.#queues[index];
    if (vq?.needsNotification()) this.transport.interruptQueue(index);
  }

  #announceTimerFired(): void {
    this.#announce.round--;
    this.net.status |= VIRTIO_NET_S_ANNOUNCE;
    this.#notifyConfig();
  }

  // ------------------------------------------------------------ control queue

  #processCtrl(): void {
    const index = this.numQueues - 1;
    const vq = this.#queues[index];
    if (!vq) return;
    let used = false;
    while (!this.#broken) {
      const chain = vq.popAvailable();
      if (!chain) break;
      if (chain.writableLength < 1 || chain.readableLength < 2) {
        vq.undoPop();
        this.#guestError(new VmigError('ERR_NET_GUEST_ERROR', 'virtio-net: ctrl missing headers; the device needs a reset', { details: { head: chain.head } }));
        break;
      }
      const hdr = new Uint8Array(2);
      chain.copyReadableInto(hdr);
      const ack = handleCtrlCommand(this.#ctrl, hdr[0]!, hdr[1]!, chainPayload(chain, 2));
      chain.writeWritable(Uint8Array.of(ack));
      vq.addUsed(chain.head, 1);
      vq.publishUsed();
      used = true;
    }
    if (used) this.#notifyQueue(index);
  }

  #ctrlContext(): CtrlContext {
    const dev = this;
    return {
      state: this.net,
      get features() {
        return dev.#features;
      },
      hasVnetHdr: this.backend.hasVnetHdr,
      rxFilterChanged: () => {
        if (!this.#rxFilterNotify) return;
        this.#rxFilterNotify = false;
        this.#onRxFilterChanged?.(this.name);
      },
      offloadsChanged: () => this.#applyOffloads(),
      queuePairsChanged: () => {
        this.#pairs.setStatus();
        this.#setQueuePairs();
        this.#pairs.updateReading();
      },
      announceAcked: () => this.#announce.step(),
    };
  }

  #pairHost(options: VirtioNetDeviceOptions): PairHost {
    const dev = this;
    const schedule = options.schedule ?? ((fn: () => void) => void setImmediate(fn));
    return {
      net: this.net,
      backend: this.backend,
      stats: this.stats,
      maxQueuePairs: this.maxQueuePairs,
      txBurst: options.txBurst ?? VIRTIO_NET_TX_BURST,
      rxBurst: options.rxBurst ?? RX_BURST,
      get driverOk() {
        return dev.#driverOk();
      },
      get quiesced() {
        return dev.#quiesced;
      },
      get broken() {
        return dev.#broken;
      },
      schedule,
      queue: (i) => this.#queues[i],
      notifyQueue: (i) => this.#notifyQueue(i),
      guestError: (e) => this.#guestError(e),
      backendCall: (fn) => this.#backendCall(fn),
      guard: (fn) => this.#guard(fn, undefined),
    };
  }

  // ------------------------------------------------------------ load

  /** Apply a whole plan (a full or provisional load); the device is left quiesced, the announce not armed. */
  #applyPlan(p: LoadPlan): void {
    this.#quiesced = true;
    this.#announce.stop();
    this.#announce.pause();
    this.#pairs.reset();
    this.#ctrlPending = false;
    applyTransportPlan(this.transport, p.transport);
    this.#features = p.features;
    applyNetTransport(this.net, p);
    const target = this.#categoryTarget();
    for (const c of NET_STATE_CATEGORIES) CATEGORY_HANDLERS[c](target, p);
    this.#backendAttached = false;
  }

  /**
   * The end of every load at a switchover: the post-migration announce is
   * armed (it fires once the VM runs, unquiesce()), a queue whose avail idx
   * is more than a ring ahead breaks the device as in QEMU.
   */
  #loaded(availAhead: readonly number[]): void {
    this.#provisional = false;
    if (this.#has(VIRTIO_NET_F_GUEST_ANNOUNCE) && this.#has(VIRTIO_NET_F_CTRL_VQ)) {
      this.#announce.reset(this.#announceParams);
      if (this.#announce.round > 0) this.#announce.arm(0);
    }
    for (const i of availAhead) this.#guestError(new VmigError('ERR_NET_GUEST_ERROR', `virtio-net: queue ${i}: avail idx is more than a ring ahead of last_avail_idx after load; the device needs a reset`, { details: { queue: i } }));
  }

  #categoryTarget(): CategoryTarget {
    return {
      transport: this.transport,
      net: this.net,
      configCache: this.#configCache,
      setQueues: (layoutPairs, queues) => {
        this.#layoutPairs = layoutPairs;
        this.#queues = queues;
      },
      setBroken: (broken) => void (this.#broken = broken),
    };
  }

  /**
   * The back-end side of a load, once (research §4.4): vnet header length,
   * offloads, queue attach, link. loadState() runs it unless asked to defer,
   * so a destination can time it as its own phase.
   */
  attachBackend(): void {
    if (this.#backendAttached) return;
    this.#backendAttached = true;
    this.#shapeBackend({ offloads: this.net.currGuestOffloads, pairs: this.net.currQueuePairs, link: this.linkUp });
    this.#pairs.updateReading();
  }

  /** What the backend is set to now (undefined: never set by a load). */
  #backendShape: { offloads: bigint; pairs: number; link: boolean } | undefined;

  #shapeBackend(want: { offloads: bigint; pairs: number; link: boolean }): void {
    const have = this.#backendShape;
    if (!have) this.#backendCall(() => this.backend.setVnetHdrLen(VIRTIO_NET_HDR_V1_SIZE));
    if (this.backend.hasVnetHdr && have?.offloads !== want.offloads) this.#applyOffloads(want.offloads);
    if (have?.pairs !== want.pairs) this.#setQueuePairs(want.pairs);
    if (have?.link !== want.link) this.#backendCall(() => this.backend.setLinkUp(want.link));
    this.#backendShape = { ...want };
  }

  /** The post-migration announce rounds follow the destination's announce-* migration parameters. */
  setAnnounceParams(params: AnnounceParams): void {
    Object.assign(this.#announceParams, params);
  }

  // ------------------------------------------------------------ errors

  /** QEMU virtio_error: broken, DEVICE_NEEDS_RESET, config interrupt; the device stops until reset. */
  #guestError(err: unknown): void {
    if (this.#broken) return;
    const e = err instanceof VmigError ? err : new VmigError('ERR_NET_GUEST_ERROR', `virtio-net: ${String(err)}; the device needs a reset`, { cause: err });
    this.#broken = true;
    this.#lastError = e;
    this.transport.needsReset();
    this.#pairs.updateReading();
    this.#onError?.(e);
  }

  /** Run a guest- or backend-triggered step; nothing it throws leaves the device (a guest cannot crash the VMM). */
  #guard<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (err) {
      this.#guestError(err);
      return fallback;
    }
  }

  /** Backend calls must not throw into the device either: a failure is reported and the step goes on. */
  #backendCall<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.backendError(undefined, err);
      return undefined;
    }
  }
}

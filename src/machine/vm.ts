/**
 * A running VM: the composition root that puts the layers together for
 * `vmig run` (DESIGN §2, §3, §7).
 *
 *   guest RAM (memfd) ── vCPU workers running vmig's guest kernel
 *        │                   │ MMIO (sync mailbox)      │ doorbells      ▲ MSI-X
 *        │                   ▼                          ▼                │
 *        └──────────── virtio-pci transport ── virtio-net device ── TAP backend
 *                                         QMP server ── commands below
 *
 * One virtio-net-pci function is supported (the first -device), its BAR
 * decoded at MMIO offset 0. vCPU 0 takes all interrupts.
 */

import { VmigError, describeError, trace } from '../core/index.js';
import { GuestMemory } from '../memory/index.js';
import { TapBackend, VhostUserBackend } from '../backends/index.js';
import type { NetBackend } from '../backends/index.js';
import { rehearseVhostUser } from '../vhost-user-net/index.js';
import { VirtioNetDevice } from '../devices/net/index.js';
import type { VirtioNetProperties } from '../devices/net/index.js';
import { ADMIN_DOORBELL, ADMIN_VECTOR, AdminChannelHost, CONSOLE_LINE_MAX, CONSOLE_MMIO, GUEST_KERNEL_URL, Vcpu } from '../guest/index.vmm.js';
import { helperThreads, keepCompiledCode, openConsoleFile, requestThreadSlice, stderrSink } from '../host/index.vmm.js';
import type { TextSink } from '../host/index.vmm.js';
import { decodeText } from '../core/index.js';
import type { KernelBootData, VcpuThread } from '../guest/index.vmm.js';
import { QmpError, QmpServer } from '../control/index.js';
import type { MigratableVm } from '../migration/index.control.js';
import { MigrationController, loadMigrationEngine } from './migration-commands.js';
import { DevicePropertyStore } from './device-property-store.js';
import { registerMachineQmpCommands } from './machine-qmp-commands.js';
import { registerTraceQmpCommands } from './trace-qmp-commands.js';
import type { VmConfig } from './vm-config.js';

/** QEMU's RunState names: inmigrate (waiting for an incoming migration), finish-migrate (the source's stop-and-copy), postmigrate (the guest moved away). */
export type VmRunState = 'prelaunch' | 'running' | 'paused' | 'inmigrate' | 'finish-migrate' | 'postmigrate' | 'shutdown';

/** The virtio-net function's migration section name, QEMU-style (PCI address / device). */
export const NIC_SECTION_IDSTR = '0000:00:02.0/virtio-net';

/** After boot, when the migration paths are warmed (the guest is up by then). */
const WARM_UP_DELAY_MS = 1000;
/** After start-up, before a migration can reasonably begin (a destination waits for one at once). */
const VHOST_USER_REHEARSAL_DELAY_MS = 100;
/** How long pause() may block this thread waiting for the vCPUs to park (a slice is ~0.1 ms). */
const PAUSE_BLOCK_NS = 5_000_000n;
/** The event-loop thread's scheduler slice (µs): the kernel's minimum, against 1.4 ms by default here. */
const EVENT_LOOP_SLICE_US = 100;

const NET_PROPERTY_NAMES = [
  'mac', 'csum', 'guest_csum', 'gso', 'guest_tso4', 'guest_tso6', 'guest_ecn', 'guest_ufo', 'guest_announce', 'host_tso4', 'host_tso6', 'host_ecn', 'host_ufo',
  'mrg_rxbuf', 'status', 'ctrl_vq', 'ctrl_rx', 'ctrl_vlan', 'ctrl_rx_extra', 'ctrl_mac_addr', 'ctrl_guest_offloads', 'mq', 'rss', 'event_idx', 'indirect_desc', 'rx_queue_size', 'tx_queue_size',
] as const;

export interface VmOptions {
  /** Where the VM reports things a person should see (warnings, guest errors). */
  log?: (line: string) => void;
  /**
   * vCPU threads started ahead with VcpuThread.start(GUEST_KERNEL_URL) (`vmig
   * run` starts them before loading the VMM); vCPU i takes the i-th, vCPUs
   * beyond the list start their own.
   */
  vcpuThreads?: VcpuThread[];
}

export class Vm implements MigratableVm {
  readonly config: VmConfig;
  readonly memory: GuestMemory;
  readonly store: DevicePropertyStore;
  readonly qmp: QmpServer;
  readonly vcpus: Vcpu[] = [];
  readonly nic: VirtioNetDevice | undefined;
  readonly backend: NetBackend | undefined;
  readonly admin: AdminChannelHost;
  /** The guest console (-serial): a file, the VMM's stderr (stdio), or nothing. */
  readonly console: TextSink | undefined;
  #state: VmRunState = 'prelaunch';
  /** How long the last stop took to park every vCPU, and the last cont to get them running again (ms). */
  readonly timing = { pauseMs: [] as number[], resumeMs: [] as number[] };
  readonly #log: (line: string) => void;
  #shutdown: Promise<void> | undefined;
  readonly #exitListeners: (() => void)[] = [];
  readonly migration: MigrationController;
  readonly nicIdstr = NIC_SECTION_IDSTR;
  /** What `vmig run` exits with: 1 when an incoming migration failed (the guest never ran), as QEMU. */
  exitCode = 0;
  /** The guest was running when the migration stopped it (so a failure resumes it). */
  #runningBeforeMigration = false;

  private constructor(config: VmConfig, options: VmOptions, memory: GuestMemory, backend: NetBackend | undefined) {
    this.config = config;
    this.#log = options.log ?? (() => undefined);
    this.store = new DevicePropertyStore(config);
    // -serial stdio goes to stderr: vmig's stdout stays free for tools.
    this.console = config.serial.kind === 'file' ? openConsoleFile(config.serial.path) : config.serial.kind === 'stdio' ? stderrSink : undefined;
    this.memory = memory;
    const dev = config.devices[0];
    if (dev && backend) {
      this.backend = backend;
      const props: Record<string, unknown> = {};
      for (const k of NET_PROPERTY_NAMES) if (dev.properties[k] !== undefined) props[k] = dev.properties[k];
      const vectors = dev.properties.vectors;
      const txBurst = dev.properties['x-txburst'];
      this.nic = new VirtioNetDevice({
        memory: this.memory,
        backend: this.backend,
        raiseVector: (v) => this.vcpus[0]?.raiseInterrupt(v),
        properties: props as VirtioNetProperties,
        ...(typeof vectors === 'number' ? { vectors } : {}),
        ...(typeof txBurst === 'number' ? { txBurst } : {}),
        name: dev.id ?? 'virtio-net-pci.0',
        onError: (e) => this.#log(`virtio-net: ${e.message}`),
      });
    }
    this.admin = new AdminChannelHost(this.memory, () => this.vcpus[0]?.raiseInterrupt(ADMIN_VECTOR));
    this.qmp = new QmpServer();
    this.migration = new MigrationController(this, {
      deferredIncoming: config.incoming?.kind === 'defer',
      onIncomingDone: (ok) => {
        if (ok) return;
        // QEMU exits when an incoming migration fails: the guest never ran here.
        this.exitCode = 1;
        void this.shutdown('incoming-migration-failed');
      },
    });
    this.#registerCommands();
    this.store.markRealized();
  }

  /**
   * Build the VM and boot its guest (unless -S).
   * @throws VmigError for anything the host refuses (TAP, memory)
   */
  static async start(config: VmConfig, options: VmOptions = {}): Promise<Vm> {
    keepCompiledCode();
    // This thread is the device model, the migration engine and the return
    // path: work that is short but late when it waits out a vCPU thread's
    // time slice. A short slice lets it preempt them the moment it wakes
    // (thread-slice.ts; the switchover trace, docs/BENCHMARKS.md).
    requestThreadSlice(EVENT_LOOP_SLICE_US);
    const memory = GuestMemory.create(config.memoryBytes, `vmig-ram-${process.pid}`);
    let backend: NetBackend | undefined;
    let vm: Vm;
    try {
      backend = await openNetBackend(config, memory);
      vm = new Vm(config, options, memory, backend);
    } catch (err) {
      backend?.close();
      memory.close();
      throw err;
    }
    for (const w of config.warnings) vm.#log(`warning: ${w}`);
    const incoming = config.incoming;
    // The vCPUs before the QMP sockets: the guest boots (its MMIO is served
    // from this event loop) while the sockets are set up. A destination
    // spawns its vCPUs at once, paused, so a switchover only has to wake them.
    vm.#bootVcpus(config.startPaused || incoming !== undefined, options.vcpuThreads ?? [], incoming !== undefined);
    try {
      // A destination has its engine before QMP answers: a management tool
      // that sees QMP up may start the migration at once (QEMU listens for
      // -incoming before its monitor runs, too).
      if (incoming) await loadMigrationEngine();
      for (const q of config.qmp) await vm.qmp.listenUnix(q.path);
      if (incoming && incoming.kind !== 'defer') await vm.migration.startIncoming(incoming.uri);
    } catch (err) {
      await vm.shutdown(incoming ? 'incoming-migration-failed' : 'host-error');
      throw err;
    }
    // Warm the migration device paths once the guest has booted (warm-up.ts):
    // a first, cold save would otherwise stall this thread inside a migration.
    // Not after an incoming migration: a second after the guest runs again,
    // a dozen cold runs on this thread stalled its network (a probe lost in
    // the 20-migration test); its next migration warms them itself.
    if (!incoming) vm.#scheduleWarmUp();
    // A vhost-user frontend's migration code runs once in its life, inside the
    // downtime: rehearse it now, source and destination alike (rehearsal.ts).
    if (vm.backend?.kind === 'vhost-user') setTimeout(() => void rehearseVhostUser().catch(() => undefined), VHOST_USER_REHEARSAL_DELAY_MS).unref();
    return vm;
  }

  #scheduleWarmUp(): void {
    const nic = this.nic;
    if (!nic) return;
    // The engine loads here at the latest (migration-commands.ts): before any migrate needs it.
    setTimeout(() => void loadMigrationEngine().then(({ warmUpNetPaths }) => warmUpNetPaths(nic, { stop: () => this.#state === 'shutdown' })).catch(() => undefined), WARM_UP_DELAY_MS).unref();
  }

  get state(): VmRunState {
    return this.#state;
  }

  get machineType(): string {
    return this.config.machineType;
  }

  #bootVcpus(paused: boolean, threads: readonly VcpuThread[], incoming: boolean): void {
    const g = this.config.guest;
    for (let i = 0; i < this.config.cpus; i++) {
      const boot: KernelBootData = {
        ram: this.memory.shared,
        vcpuCount: this.config.cpus,
        resume: incoming,
        nic: this.nic !== undefined,
        config: {
          ...(g.ip ? { ip: g.ip.address, prefixLength: g.ip.prefixLength } : {}),
          udpEchoPort: g.udpEchoPort ?? 0,
          workloadBytes: g.workload?.bytes ?? 0,
          dirtyRateBytesPerSec: g.workload?.dirtyRateBytesPerSec ?? 0,
        },
      };
      const vcpu = new Vcpu({
        index: i,
        kernelUrl: GUEST_KERNEL_URL,
        thread: threads[i],
        bootData: boot,
        startPaused: paused || i > 0,
        mmio: (op, addr, size, value) => this.#mmio(op, addr, size, value),
        onDoorbell: (mask) => this.#doorbell(mask),
      });
      vcpu.exited.catch((err: Error) => this.#log(`vCPU ${i}: ${err.message}`));
      this.vcpus.push(vcpu);
    }
    // Secondary vCPUs start once vCPU 0 has written the boot block (its kernel spins for it otherwise).
    if (!paused) for (const v of this.vcpus.slice(1)) v.resume();
    this.#state = incoming ? 'inmigrate' : paused ? 'paused' : 'running';
  }

  #firstMmio = true;

  #mmio(op: 'read' | 'write', addr: bigint, size: number, value: bigint): bigint {
    if (this.#firstMmio) {
      this.#firstMmio = false;
      trace('vm_first_mmio');
    }
    if (addr === BigInt(CONSOLE_MMIO)) {
      if (op === 'write') this.#consoleLine(value);
      return 0n;
    }
    const t = this.nic?.transport;
    if (!t) throw new Error('no device at this address');
    if (op === 'read') return t.read(Number(addr), size);
    t.write(Number(addr), size, value);
    return 0n;
  }

  #consoleLine(value: bigint): void {
    const gpa = Number(value & 0xffffffffn);
    const len = Math.min(Number(value >> 32n), CONSOLE_LINE_MAX);
    // The line is guest data: bounds-checked by slice, printed as text.
    if (!this.console || !this.memory.contains(gpa, len)) return;
    const line = `${decodeText(this.memory.slice(gpa, len))}\n`;
    // Written after the exit is answered, like a UART's FIFO: the vCPU does
    // not wait for the host's stream (the first write to stderr creates it).
    const sink = this.console;
    queueMicrotask(() => sink.write(line));
  }

  #doorbell(mask: bigint): void {
    if (mask & (1n << BigInt(ADMIN_DOORBELL))) this.admin.poll();
    const t = this.nic?.transport;
    if (!t) return;
    for (let q = 0; q < 63; q++) if (mask & (1n << BigInt(q))) t.notifyFromDriver(q);
  }

  /** stop: vCPUs park, the NIC stops moving frames (QEMU vm_stop). */
  async pause(): Promise<void> {
    if (this.#state !== 'running') return;
    trace('vm_pause_requested');
    for (const v of this.vcpus) v.requestPause();
    // Park them with this thread blocked for up to PAUSE_BLOCK_NS (then through the event loop): see Vcpu.pause.
    const blockUntilNs = process.hrtime.bigint() + PAUSE_BLOCK_NS;
    await Promise.all(this.vcpus.map((v) => v.pause({ blockUntilNs })));
    trace('vm_vcpus_parked');
    // Kicks rung before they parked reach the NIC before it is quiesced (the event loop may not have run since).
    for (const v of this.vcpus) v.flushDoorbells();
    // As the vCPUs timed it: request → the last one parked.
    pushBounded(this.timing.pauseMs, Math.max(...this.vcpus.map((v) => Number(v.lastPauseLatencyNs ?? 0n))) / 1e6);
    this.nic?.quiesce();
    this.#state = 'paused';
    this.qmp.emitEvent('STOP');
  }

  /** cont */
  resume(vcpusRunning?: () => void): void {
    if (this.#state !== 'paused') return;
    // vCPUs first: their doorbells reach the NIC only through this thread's
    // event loop, after this function, so the NIC is unquiesced in time.
    for (const v of this.vcpus) v.resume();
    trace('vm_vcpus_resumed');
    vcpusRunning?.();
    this.nic?.unquiesce();
    this.#state = 'running';
    // Resume latency as the vCPUs timed it (resume → the last one running),
    // collected off the critical path.
    setTimeout(() => {
      const lat = this.vcpus.map((v) => v.lastResumeLatencyNs);
      if (lat.every((l) => l !== undefined)) pushBounded(this.timing.resumeMs, Math.max(...lat.map((l) => Number(l))) / 1e6);
    }, 20);
    // After the caller's synchronous work (a destination's SHUT to the source goes first).
    queueMicrotask(() => this.qmp.emitEvent('RESUME'));
  }

  // ------------------------------------------------------------ MigratableVm

  /** Start an external datapath's rings (vhost-user) before the guest runs again; a failure is logged, the guest runs anyway. */
  #startDatapath(): Promise<void> {
    return this.nic?.startDatapath().catch((err: unknown) => this.#log(`virtio-net: starting the vhost-user datapath failed: ${describeError(err)}`)) ?? Promise.resolve();
  }

  earlyMigration(): { enabled: boolean; policy: 'rfc' | 'per-delta' } {
    const dev = this.store.list()[0];
    if (!dev || !this.nic) return { enabled: false, policy: 'per-delta' };
    return { enabled: this.store.getProperty(dev.qomPath, 'early-mig') === true, policy: this.store.getProperty(dev.qomPath, 'early-mig-policy') === 'rfc' ? 'rfc' : 'per-delta' };
  }

  async stopForMigration(): Promise<number> {
    this.#runningBeforeMigration = this.#state === 'running';
    const t0 = process.hrtime.bigint();
    // A datapath outside the VMM stops too (vhost-user: GET_VRING_BASE per ring), so the
    // rings' indices the device sends are final (QEMU's vhost_dev_stop inside vm_stop).
    // Asked first, so the backend stops its rings while the vCPUs park: what the guest
    // adds to a ring after that stays in its avail ring (in RAM) for the destination,
    // and the backend writes guest RAM no more once it has answered.
    const ringsStopped = this.nic?.externalDatapath ? this.nic.stopDatapath() : undefined;
    ringsStopped?.catch(() => undefined);
    if (this.#runningBeforeMigration) await this.pause();
    // vCPUs first, then the NIC: a parked vCPU is never inside a control-queue exchange.
    this.nic?.quiesce();
    if (ringsStopped) {
      try {
        await ringsStopped;
      } catch (err) {
        // The migration fails before anything was saved: the guest runs on (its backend, if gone, stays gone).
        this.#state = 'paused';
        if (this.#runningBeforeMigration) this.resume();
        throw err;
      }
    }
    this.#state = 'finish-migrate';
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }

  resumeAfterFailedMigration(): void {
    this.#state = 'paused';
    // The rings go back to the external datapath where they stopped; kicks the
    // guest made since wait in the kick eventfds.
    if (!this.#runningBeforeMigration) return;
    if (this.nic?.externalDatapath) void this.#startDatapath().then(() => this.resume());
    else this.resume();
  }

  migrationCompleted(): void {
    this.#state = 'postmigrate';
  }

  startIncoming(vcpusRunning?: () => void): void {
    this.#state = 'paused';
    this.resume(vcpusRunning);
  }

  emitEvent(name: string, data?: Record<string, unknown>): void {
    this.qmp.emitEvent(name, data);
  }

  holdEvents(): () => void {
    return this.qmp.holdEvents();
  }

  log(line: string): void {
    this.#log(line);
  }

  onExit(fn: () => void): void {
    this.#exitListeners.push(fn);
  }

  /** quit: stop everything and release the host resources. */
  shutdown(reason = 'host-qmp-quit'): Promise<void> {
    this.#shutdown ??= (async () => {
      this.qmp.emitEvent('SHUTDOWN', { guest: false, reason });
      this.#state = 'shutdown';
      this.migration.close();
      await Promise.all(this.vcpus.map((v) => v.stop()));
      this.nic?.close();
      this.backend?.close();
      await this.qmp.close();
      this.memory.close();
      this.console?.close();
      for (const fn of this.#exitListeners) fn();
    })();
    return this.#shutdown;
  }

  /** Each vCPU thread's Linux id (0: unknown), waiting for threads still starting. */
  async #vcpuThreadIds(): Promise<number[]> {
    return (await Promise.all(this.vcpus.map((v) => v.threadIdWhenStarted()))).map((t) => t ?? 0);
  }

  #registerCommands(): void {
    const r = this.qmp.registry;
    registerMachineQmpCommands(r, this.store);
    r.register({
      name: 'query-status',
      handler: () => ({ status: this.#state === 'shutdown' ? 'shutdown' : this.#state, running: this.#state === 'running', singlestep: false }),
    });
    r.register({
      name: 'stop',
      handler: async () => {
        await this.pause();
        // A datapath outside the VMM stops too (QEMU's vhost_net_stop at vm_stop): a stopped guest's RAM stays still.
        await this.nic?.stopDatapath().catch((err: unknown) => this.#log(`virtio-net: stopping the vhost-user datapath failed: ${describeError(err)}`));
        return {};
      },
    });
    r.register({
      name: 'cont',
      handler: () => {
        if (this.#state === 'inmigrate') throw new QmpError('GenericError', 'Guest can not be started: an incoming migration is in progress');
        if (this.#state === 'finish-migrate') throw new QmpError('GenericError', 'Guest can not be started during the switchover of a migration');
        if (this.#state === 'postmigrate') this.#state = 'paused';
        if (this.#state !== 'paused' || !this.nic?.externalDatapath) {
          this.resume();
          return {};
        }
        return this.#startDatapath().then(() => {
          this.resume();
          return {};
        });
      },
    });
    r.register({
      name: 'quit',
      handler: () => {
        setImmediate(() => void this.shutdown());
        return {};
      },
    });
    r.register<{ name?: string }>({
      name: 'query-rx-filter',
      args: { '*name': 'str' },
      handler: (a) => {
        if (!this.nic) return [];
        if (a.name !== undefined && a.name !== this.nic.name) throw new QmpError('GenericError', `net client(${a.name}) isn't a NIC`);
        return [this.nic.queryRxFilter()];
      },
    });
    r.register<{ name: string; up: boolean }>({
      name: 'set_link',
      args: { name: 'str', up: 'bool' },
      handler: (a) => {
        if (!this.nic || (a.name !== this.nic.name && a.name !== this.config.netdevs[0]?.id)) throw new QmpError('DeviceNotFound', `Device '${a.name}' not found`);
        this.nic.setLinkUp(a.up);
        return {};
      },
    });
    r.register<{ op: string } & Record<string, unknown>>({
      name: 'x-vmig-guest',
      args: { op: 'str', '*mac': 'str', '*promisc': 'bool', '*allmulti': 'bool', '*alluni': 'bool', '*nomulti': 'bool', '*nouni': 'bool', '*nobcast': 'bool', '*id': 'int', '*ip': 'str', '*pairs': 'int', '*hash-types': 'int', '*indirection': { list: 'int' }, '*key': 'str', '*csum': 'bool', '*tso4': 'bool', '*tso6': 'bool', '*ecn': 'bool', '*ufo': 'bool', '*ring-size': 'int', '*features-off': { list: 'str' }, '*ms': 'int' },
      handler: async (a) => {
        if (this.#state !== 'running') throw new QmpError('GenericError', `The guest is ${this.#state}; admin commands need a running guest`);
        const res = await this.admin.request(a);
        if (!res.ok) throw new QmpError('GenericError', `guest refused ${a.op}: ${res.error}`);
        return res.result;
      },
    });
    this.migration.register(r, () => this.#state);
    registerTraceQmpCommands(r);
    r.register({ name: 'x-vmig-query-timing', handler: () => ({ 'pause-ms': this.timing.pauseMs, 'resume-ms': this.timing.resumeMs }) });
    // QEMU's: one entry per vCPU, thread-id being the vCPU thread's Linux id (taskset, chrt, a kernel trace).
    r.register({
      name: 'query-cpus-fast',
      handler: async () => {
        const tids = await this.#vcpuThreadIds();
        return this.vcpus.map((v, i) => ({
          'cpu-index': v.index,
          'qom-path': `/machine/unattached/device[${v.index}]`,
          'thread-id': tids[i]!,
          // QEMU ≥ 6.2's default topology for -smp N: one socket of N cores.
          props: { 'core-id': v.index, 'thread-id': 0, 'socket-id': 0 },
          target: 'x86_64',
        }));
      },
    });
    // Every thread a switchover involves, by role: the event loop (the process id), the vCPUs, and
    // V8's and Node's helpers, which a switchover parks in SCHED_IDLE (host/helper-threads.ts).
    r.register({
      name: 'x-vmig-query-threads',
      handler: async () => ({ 'event-loop': process.pid, vcpus: await this.#vcpuThreadIds(), helpers: [...helperThreads()] }),
    });
  }
}

function pushBounded(list: number[], value: number, max = 1000): void {
  list.push(value);
  if (list.length > max) list.shift();
}

/**
 * The NIC's backend from its -netdev: a TAP opened here, or a vhost-user
 * backend connected to through the netdev's -chardev socket (QEMU's
 * vhost_dev_init exchange runs now, at start-up, as in QEMU: a destination's
 * backend is connected before any migration begins).
 * @throws VmigError ERR_MACHINE_BAD_OPTION for a netdev the NIC cannot use; the backend's errors
 */
async function openNetBackend(config: VmConfig, memory: GuestMemory): Promise<NetBackend | undefined> {
  const dev = config.devices[0];
  if (!dev) return undefined;
  const netdevId = String(dev.properties.netdev ?? '');
  const netdev = config.netdevs.find((n) => n.id === netdevId);
  if (!netdev) throw new VmigError('ERR_MACHINE_BAD_OPTION', `-device virtio-net-pci: netdev '${netdevId}' is not defined`);
  if (netdev.type === 'tap') return TapBackend.open({ ifname: netdev.ifname ?? '', queues: netdev.queues });
  const chardev = config.chardevs.find((c) => c.id === netdev.chardev);
  if (!chardev) throw new VmigError('ERR_MACHINE_BAD_OPTION', `-netdev vhost-user: chardev '${netdev.chardev}' is not defined`);
  if (chardev.server) {
    throw new VmigError('ERR_MACHINE_BAD_OPTION', `-chardev ${chardev.id}: vmig's vhost-user frontend connects to its backend (server=off); start the backend listening on ${chardev.path} (vmig vhost-user-net --socket ${chardev.path})`);
  }
  return VhostUserBackend.connect(chardev.path, memory, netdev.queues);
}

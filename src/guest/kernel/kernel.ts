/**
 * The vmig guest kernel: what a vCPU worker runs (DESIGN §3). It keeps all
 * its state in guest RAM (ram-layout.ts), so the same code resumes a guest
 * after migration exactly where the source paused it: on `resume` it reads
 * the boot block instead of initialising it.
 *
 * Work is split into short slices so a pause request is honoured within
 * ~100 µs: each slice answers a pending admin request, runs the network
 * (when the driver is present) and a bounded step of the memory workload.
 * vCPU 0 owns admin and network; the workload runs on the last vCPU.
 */

import { GuestMemory } from '../../memory/index.js';
import type { GuestMemoryShared } from '../../memory/index.js';
import type { GuestKernel } from '../guest-kernel.js';
import type { VcpuServices } from '../vcpu-services.js';
import { ADMIN_DOORBELL, AdminChannelGuest } from './admin-channel.js';
import type { AdminRequest, AdminResponse } from './admin-channel.js';
import { KernelHeap } from './heap.js';
import { CONSOLE_LINE_MAX, GuestConsole } from './console.js';
import { NetTask } from './net-task.js';
import { MemoryWorkload, workloadStateBytes } from './workload.js';
import { warmUpGuestCode } from './warm-up.js';
import {
  BB_BOOT_COUNT,
  BB_CONSOLE_BUF,
  BB_BUILD_ID,
  BB_DIRTY_RATE,
  BB_IPV4,
  BB_LAYOUT,
  BB_MAGIC,
  BB_NET_STATE,
  BB_PREFIX,
  BB_READY_NS,
  BB_UDP_PORT,
  BB_WORKLOAD_BASE,
  BB_WORKLOAD_BYTES,
  BB_WORKLOAD_STATE,
  BOOT_BLOCK,
  BOOT_MAGIC,
  GUEST_FIRMWARE_BUILD_ID,
  HEAP_BASE,
  LAYOUT_VERSION,
} from './ram-layout.js';

/** The `-guest` options, as the VMM passes them at first boot. */
export interface GuestConfig {
  /** Dotted IPv4 address, or undefined for no network configuration. */
  ip?: string;
  prefixLength?: number;
  udpEchoPort: number;
  /** Bytes of RAM the memory workload rewrites (0: off). */
  workloadBytes: number;
  /** Bytes per second the workload dirties. */
  dirtyRateBytesPerSec: number;
}

export interface KernelBootData {
  ram: GuestMemoryShared;
  vcpuCount: number;
  config: GuestConfig;
  /** Continue a guest whose state is already in RAM (a migration destination). */
  resume: boolean;
  /** A virtio-net function is present at the MMIO BAR: bring the network up. */
  nic?: boolean;
}

/** A subsystem the kernel runs each slice (the network driver plugs in here). */
export interface KernelTask {
  /** Do a bounded amount of work; return true if more is ready right away. */
  run(nowNs: bigint): boolean;
  interrupt?(vectors: bigint, nowNs: bigint): void;
  admin?(req: AdminRequest): AdminResponse | undefined;
  status?(): Record<string, unknown>;
}

const SLICE_BUDGET_NS = 80_000n;
/** How long after a resume the kernel waits before logging it (see the constructor). */
const RESUMED_LINE_DELAY_NS = 50_000_000n;
const VERIFY_PAGES_PER_SLICE = 4;

function ipv4ToU32(ip: string | undefined): number {
  if (!ip) return 0;
  const parts = ip.split('.').map(Number);
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

export class VmigKernel implements GuestKernel {
  readonly mem: GuestMemory;
  readonly services: VcpuServices;
  readonly heap: KernelHeap;
  readonly #admin: AdminChannelGuest | undefined;
  readonly #workload: MemoryWorkload | undefined;
  readonly tasks: KernelTask[] = [];
  readonly #isNetCpu: boolean;
  console: GuestConsole | undefined;
  #pendingLine: string | undefined;
  #pendingLineDueNs = 0n;

  constructor(services: VcpuServices, boot: KernelBootData) {
    this.services = services;
    this.mem = GuestMemory.fromShared(boot.ram);
    this.heap = new KernelHeap(this.mem);
    this.#isNetCpu = services.index === 0;
    const isWorkloadCpu = services.index === boot.vcpuCount - 1;
    if (this.#isNetCpu && !boot.resume) this.#firstBoot(boot.config);
    this.#checkFirmware();
    if (this.#isNetCpu) {
      this.#admin = new AdminChannelGuest(this.mem);
      const bootCount = this.mem.readU32(BOOT_BLOCK + BB_BOOT_COUNT) + 1;
      this.mem.writeU32(BOOT_BLOCK + BB_BOOT_COUNT, bootCount);
      this.console = new GuestConsole(this.mem, services, this.mem.readU32(BOOT_BLOCK + BB_CONSOLE_BUF));
      if (boot.resume) {
        // Printed 50 ms after the resume: the console is a synchronous MMIO
        // exit, and for the first milliseconds after a migration the VMM
        // thread is finishing the switchover (NIC, announce, report) — a
        // vCPU blocked in that exit could not answer the first packets.
        this.#pendingLine = `vmig guest: resumed (boot ${bootCount}), firmware 0x${GUEST_FIRMWARE_BUILD_ID.toString(16)}`;
        this.#pendingLineDueNs = services.nowNs() + RESUMED_LINE_DELAY_NS;
      } else {
        this.console.log(`vmig guest: firmware 0x${GUEST_FIRMWARE_BUILD_ID.toString(16)}, ${boot.vcpuCount} vCPU(s), ${this.mem.size >> 20} MiB RAM`);
      }
      if (boot.nic) this.#startNetwork(boot.resume);
    }
    const wbytes = this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_BYTES);
    if (isWorkloadCpu && wbytes > 0) {
      this.#workload = new MemoryWorkload(this.mem, this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_STATE), this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_BASE), this.mem.readU32(BOOT_BLOCK + BB_DIRTY_RATE));
    }
  }

  #firstBoot(cfg: GuestConfig): void {
    const m = this.mem;
    const pages = Math.floor(cfg.workloadBytes / 4096);
    const workloadBase = pages > 0 ? m.size - pages * 4096 : m.size;
    const bb = BOOT_BLOCK;
    m.fill(bb, 0x100, 0);
    m.writeU32(bb + BB_LAYOUT, LAYOUT_VERSION);
    m.writeU32(bb + BB_BUILD_ID, GUEST_FIRMWARE_BUILD_ID);
    m.writeU32(bb + BB_IPV4, ipv4ToU32(cfg.ip));
    m.writeU32(bb + BB_PREFIX, cfg.prefixLength ?? 24);
    m.writeU32(bb + BB_UDP_PORT, cfg.udpEchoPort);
    m.writeU32(bb + BB_WORKLOAD_BASE, workloadBase);
    m.writeU32(bb + BB_WORKLOAD_BYTES, pages * 4096);
    m.writeU32(bb + BB_DIRTY_RATE, cfg.dirtyRateBytesPerSec);
    this.heap.init(HEAP_BASE, workloadBase);
    m.writeU32(bb + BB_CONSOLE_BUF, this.heap.alloc(CONSOLE_LINE_MAX, 16));
    if (pages > 0) {
      const state = this.heap.alloc(workloadStateBytes(pages), 64);
      m.writeU32(bb + BB_WORKLOAD_STATE, state);
      new MemoryWorkload(m, state, workloadBase, cfg.dirtyRateBytesPerSec).init(pages, this.services.nowNs());
    }
    // The magic last: other vCPUs wait for it before trusting the block.
    m.atomicStoreU32(bb + BB_MAGIC, BOOT_MAGIC);
  }

  #startNetwork(resume: boolean): void {
    const m = this.mem;
    if (resume) {
      const state = m.readU32(BOOT_BLOCK + BB_NET_STATE);
      if (state !== 0) this.tasks.push(new NetTask(m, this.services, state, this.console));
      return;
    }
    const state = this.heap.alloc(NetTask.stateBytes(), 64);
    m.writeU32(BOOT_BLOCK + BB_NET_STATE, state);
    const net = new NetTask(m, this.services, state, this.console);
    this.tasks.push(net);
    if (net.boot(this.heap, m.readU32(BOOT_BLOCK + BB_IPV4), m.readU32(BOOT_BLOCK + BB_PREFIX))) this.setReady(this.services.nowNs());
    else this.console?.log('eth0: the virtio-net device refused our features; network down');
  }

  #checkFirmware(): void {
    // Other vCPUs may start before vCPU 0 has written the boot block.
    for (let spins = 0; this.mem.atomicLoadU32(BOOT_BLOCK + BB_MAGIC) !== BOOT_MAGIC; spins++) {
      if (spins > 5000) throw new Error('guest boot block never appeared (vCPU 0 did not boot)');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
    const build = this.mem.readU32(BOOT_BLOCK + BB_BUILD_ID);
    if (build !== GUEST_FIRMWARE_BUILD_ID) throw new Error(`guest RAM was written by firmware build 0x${build.toString(16)}, this is 0x${GUEST_FIRMWARE_BUILD_ID.toString(16)}`);
  }

  /** The network is configured and the guest answers: what `status.ready` reports. */
  setReady(nowNs: bigint): void {
    if (this.mem.readU64(BOOT_BLOCK + BB_READY_NS) === 0n) this.mem.writeU64(BOOT_BLOCK + BB_READY_NS, nowNs);
  }

  interrupt(vectors: bigint, nowNs: bigint): void {
    for (const t of this.tasks) t.interrupt?.(vectors, nowNs);
  }

  runSlice(nowNs: bigint): 'busy' | 'idle' | bigint {
    let busy = false;
    if (this.#admin) busy = this.#serveAdmin() || busy;
    for (const t of this.tasks) busy = t.run(nowNs) || busy;
    if (this.#pendingLine !== undefined && nowNs >= this.#pendingLineDueNs) {
      this.console?.log(this.#pendingLine);
      this.#pendingLine = undefined;
    }
    if (this.#workload) busy = this.#workload.step(nowNs, VERIFY_PAGES_PER_SLICE, SLICE_BUDGET_NS, () => this.services.nowNs()) || busy;
    if (busy) return 'busy';
    // Wake at least every millisecond: the workload's rate and the verifier are time driven.
    return this.#workload ? nowNs + 1_000_000n : nowNs + 20_000_000n;
  }

  #serveAdmin(): boolean {
    const p = this.#admin!.pending();
    if (!p) return false;
    let response: AdminResponse | undefined;
    if (p.request.op === 'status') response = { ok: true, result: this.status() };
    for (const t of this.tasks) response ??= t.admin?.(p.request);
    response ??= { ok: false, error: `unknown or unsupported admin op ${JSON.stringify(p.request.op)}` };
    this.#admin!.answer(p.seq, response);
    this.services.ringDoorbell(ADMIN_DOORBELL);
    return true;
  }

  status(): Record<string, unknown> {
    const readyNs = this.mem.readU64(BOOT_BLOCK + BB_READY_NS);
    const wbytes = this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_BYTES);
    let workload: Record<string, unknown> = { verified: 0, errors: 0, pages: 0, bytesWritten: 0 };
    if (wbytes > 0) {
      const w = new MemoryWorkload(this.mem, this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_STATE), this.mem.readU32(BOOT_BLOCK + BB_WORKLOAD_BASE), 0).stats();
      workload = { ...w };
    }
    const out: Record<string, unknown> = {
      ready: readyNs !== 0n || this.tasks.length === 0,
      bootCount: this.mem.readU32(BOOT_BLOCK + BB_BOOT_COUNT),
      firmware: `0x${GUEST_FIRMWARE_BUILD_ID.toString(16)}`,
      guestTimeNs: this.services.nowNs().toString(),
      workload,
    };
    for (const t of this.tasks) Object.assign(out, t.status?.() ?? {});
    return out;
  }
}

/** The vCPU worker's entry point (see guest-kernel.ts). */
export function createKernel(services: VcpuServices, bootData: unknown): GuestKernel {
  return new VmigKernel(services, bootData as KernelBootData);
}

/** See GuestKernelModule.warmUp and warm-up.ts. */
export function warmUp(options: { rounds: number; stop: () => boolean }): number {
  return warmUpGuestCode((services, boot) => new VmigKernel(services, boot), options);
}

/**
 * The VMM's side of one vCPU: starts the worker thread that runs the guest,
 * pauses and resumes it (the stop of stop-and-copy), delivers MSI-X
 * interrupts, serves its synchronous MMIO requests and receives its
 * doorbells (DESIGN §3). The contract is vcpu-protocol.ts.
 *
 * Pause is a kick, not a message: the VMM flips RUN_STATE and wakes the vCPU,
 * which parks at the end of its current slice (slices are short) and
 * acknowledges; `pause()` resolves when the acknowledgement lands. MMIO and
 * doorbells are served from Atomics.waitAsync loops, so the VMM's event loop
 * never blocks on a guest.
 *
 * The thread (VcpuThread) can be started before its vCPU exists: it loads the
 * guest kernel at once and waits for its assignment (index, control block,
 * boot data), so `vmig run` starts its vCPU threads first and loads the VMM
 * and opens the TAP while they load the guest (docs/BENCHMARKS.md).
 */

import { Worker } from 'node:worker_threads';

import { VmigError } from '../core/index.js';
import {
  CLOCK_OFFSET64,
  CONTROL_BLOCK_BYTES,
  DOORBELL_BITS,
  DOORBELL_SEQ,
  IRQ_PENDING,
  MAX_VECTORS,
  MMIO_ADDR64,
  MMIO_ERROR,
  MMIO_OP,
  MMIO_READ,
  MMIO_SIZE,
  MMIO_STATE,
  MMIO_VALUE64,
  MmioState,
  RUN_STATE,
  RunState,
  PARKED_AT64,
  RESUMED_AT64,
  SLICE_COUNT64,
  THREAD_ID,
  WAKE_SEQ,
  controlViews,
  hostMonotonicNs,
} from './vcpu-protocol.js';
import type { ControlViews } from './vcpu-protocol.js';

/** Serves one MMIO access synchronously; returns the read value (ignored for writes). Throw for an access fault. */
export type MmioHandler = (op: 'read' | 'write', addr: bigint, size: number, value: bigint) => bigint;

/** What the VMM posts to a vCPU thread to make it vCPU `index` (see vcpu-worker.ts). */
export interface VcpuAssignment {
  index: number;
  control: SharedArrayBuffer;
  bootData: unknown;
}

/**
 * A vCPU worker thread, possibly started ahead of its vCPU. It imports the
 * kernel module right away and then waits for a VcpuAssignment. Until a Vcpu
 * adopts it, it does not keep the process alive (unref), so a `vmig run` that
 * fails before booting exits without ending its threads by hand.
 */
/** The vCPU worker's entry module (vcpu-worker.ts). */
export const VCPU_WORKER_URL = new URL('./vcpu-worker.js', import.meta.url);

export class VcpuThread {
  readonly kernelUrl: URL;
  readonly worker: Worker;
  /** Resolves with the thread's exit code; rejects with what the guest code threw. */
  readonly exited: Promise<number>;
  #assigned = false;

  private constructor(kernelUrl: URL, worker?: Worker) {
    this.kernelUrl = kernelUrl;
    this.worker = worker ?? new Worker(VCPU_WORKER_URL, { workerData: { kernelUrl: kernelUrl.href } });
    this.worker.unref();
    this.exited = new Promise((resolve, reject) => {
      this.worker.once('exit', (code) => resolve(code));
      this.worker.once('error', reject);
    });
    this.exited.catch(() => undefined);
  }

  /** Start a thread that loads the guest kernel at `kernelUrl`. */
  static start(kernelUrl: URL): VcpuThread {
    return new VcpuThread(kernelUrl);
  }

  /**
   * A thread the launcher started itself, even earlier (`bin/vmig.js`, before
   * it loads the VMM): a Worker on VCPU_WORKER_URL with workerData
   * `{ kernelUrl: kernelUrl.href }`, which has not been assigned yet.
   */
  static adopt(worker: Worker, kernelUrl: URL): VcpuThread {
    return new VcpuThread(kernelUrl, worker);
  }

  /** Hand the thread its vCPU (once); from then on it keeps the process alive. */
  assign(assignment: VcpuAssignment): void {
    if (this.#assigned) throw new VmigError('ERR_GUEST_VCPU_STATE', 'This vCPU thread already runs a vCPU');
    this.#assigned = true;
    this.worker.ref();
    this.worker.postMessage(assignment);
  }

  /** End a thread no vCPU adopted (or force one that does not stop). */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export interface VcpuOptions {
  index: number;
  /** The module the worker imports and boots (a guest kernel: see vcpu-worker.ts). */
  kernelUrl: URL;
  /**
   * A thread started earlier with VcpuThread.start(kernelUrl) (it has been
   * loading the kernel meanwhile); without one the Vcpu starts its own.
   */
  thread?: VcpuThread;
  /** Data the kernel receives at boot (guest RAM, dirty bitmap, configuration…). Must be structured-cloneable; SharedArrayBuffers are shared. */
  bootData: unknown;
  mmio: MmioHandler;
  onDoorbell: (queueMask: bigint) => void;
  /** Start paused (a destination waits for the incoming state before running). */
  startPaused?: boolean;
  /** Initial guest clock offset (ns); a migrated guest brings its own. */
  clockOffsetNs?: bigint;
}

/** The pause's blocking wait checks for an MMIO exit this often (ms). */
const PAUSE_BLOCK_STEP_MS = 0.25;

export class Vcpu {
  readonly index: number;
  readonly control: SharedArrayBuffer;
  readonly #v: ControlViews;
  readonly #thread: VcpuThread;
  readonly #opts: VcpuOptions;
  #exited: Promise<number>;
  #closed = false;
  /** Guest time frozen at pause, so a paused (or migrating) guest's clock does not run. */
  #pausedGuestNs: bigint | undefined;
  #pauseRequestedNs = 0n;
  #resumeRequestedNs = 0n;

  constructor(options: VcpuOptions) {
    this.index = options.index;
    this.#opts = options;
    this.control = new SharedArrayBuffer(CONTROL_BLOCK_BYTES);
    this.#v = controlViews(this.control);
    const { words, wide } = this.#v;
    wide[CLOCK_OFFSET64] = options.clockOffsetNs ?? -hostMonotonicNs();
    if (options.startPaused) {
      Atomics.store(words, RUN_STATE, RunState.Paused);
      this.#pausedGuestNs = hostMonotonicNs() + wide[CLOCK_OFFSET64]!;
    }
    const thread = options.thread ?? VcpuThread.start(options.kernelUrl);
    if (thread.kernelUrl.href !== options.kernelUrl.href) throw new VmigError('ERR_GUEST_VCPU_STATE', `vCPU ${options.index}: the thread given loads ${thread.kernelUrl.href}, not ${options.kernelUrl.href}`);
    this.#thread = thread;
    this.#exited = thread.exited.catch((err: Error) => {
      this.#closed = true;
      throw new VmigError('ERR_GUEST_VCPU_CRASHED', `vCPU ${options.index} stopped with an error: ${err.message}`, { cause: err });
    });
    this.#exited.catch(() => undefined);
    thread.assign({ index: options.index, control: this.control, bootData: options.bootData });
    void this.#serveMmio();
    void this.#serveDoorbells();
  }

  /** Resolves with the worker's exit code; rejects if the guest code threw. */
  get exited(): Promise<number> {
    return this.#exited;
  }

  get runState(): RunState {
    return Atomics.load(this.#v.words, RUN_STATE) as RunState;
  }

  get slicesRun(): bigint {
    return Atomics.load(this.#v.wide, SLICE_COUNT64);
  }

  /** Guest time now (ns); frozen while paused. */
  guestNowNs(): bigint {
    return this.#pausedGuestNs ?? hostMonotonicNs() + Atomics.load(this.#v.wide, CLOCK_OFFSET64);
  }

  /**
   * Set the guest clock (a destination sets the source's frozen time before
   * resuming); applies when the vCPU next runs.
   */
  setGuestNowNs(guestNs: bigint): void {
    this.#pausedGuestNs = guestNs;
    if (this.runState === RunState.Running) this.#applyClock();
  }

  /**
   * Ask the vCPU to park at the end of its slice, without waiting (pause()
   * waits). Requesting every vCPU first lets them park in parallel.
   */
  requestPause(): void {
    const { words } = this.#v;
    const at = hostMonotonicNs(); // before the request: the worker's PARKED_AT stamp is never earlier
    const prev = Atomics.compareExchange(words, RUN_STATE, RunState.Running, RunState.PauseRequested);
    if (prev === RunState.Paused || prev === RunState.PauseRequested) return;
    if (prev !== RunState.Running) throw new VmigError('ERR_GUEST_VCPU_STATE', `Cannot pause vCPU ${this.index}: it is stopping or stopped`);
    this.#pauseRequestedNs = at;
    this.#wake();
  }

  /**
   * Ask the vCPU to park at the end of its slice; resolves once it has.
   * `blockUntilNs` (host monotonic): until then, wait with this thread
   * blocked rather than through the event loop. A slice is ~0.1 ms and the
   * worker's notify then wakes this thread directly; the event loop's
   * cross-thread hop would cost more than the pause itself. For the stop of
   * stop-and-copy, where nothing else should run anyway.
   */
  async pause(options: { blockUntilNs?: bigint } = {}): Promise<void> {
    const { words } = this.#v;
    this.requestPause();
    if (Atomics.load(words, RUN_STATE) === RunState.Paused) return;
    if (options.blockUntilNs !== undefined) {
      // In short waits: a vCPU inside an MMIO exit waits for this very thread,
      // so as soon as one asks, the event loop must serve it (below).
      for (;;) {
        const leftMs = Number(options.blockUntilNs - hostMonotonicNs()) / 1e6;
        if (leftMs <= 0 || Atomics.load(words, MMIO_STATE) === MmioState.Request) break;
        if (Atomics.wait(words, RUN_STATE, RunState.PauseRequested, Math.min(leftMs, PAUSE_BLOCK_STEP_MS)) !== 'timed-out') break;
      }
    }
    for (;;) {
      const state = Atomics.load(words, RUN_STATE);
      if (state === RunState.Paused) break;
      if (state !== RunState.PauseRequested) throw new VmigError('ERR_GUEST_VCPU_STATE', `vCPU ${this.index} stopped while pausing`);
      const w = Atomics.waitAsync(words, RUN_STATE, RunState.PauseRequested, 1000);
      if ((w.async ? await w.value : w.value) === 'timed-out' && this.#closed) throw new VmigError('ERR_GUEST_VCPU_STATE', `vCPU ${this.index} is gone`);
    }
    this.#pausedGuestNs = hostMonotonicNs() + Atomics.load(this.#v.wide, CLOCK_OFFSET64);
  }

  /**
   * Doorbells the vCPU rang before it parked, delivered now rather than when
   * the event loop gets to them: a pause that blocked this thread must not
   * leave a TX kick unseen by a device about to be quiesced and saved.
   */
  flushDoorbells(): void {
    const { words } = this.#v;
    const lo = Atomics.exchange(words, DOORBELL_BITS, 0) >>> 0;
    const hi = Atomics.exchange(words, DOORBELL_BITS + 1, 0) >>> 0;
    if ((lo | hi) !== 0 && !this.#closed) this.#opts.onDoorbell((BigInt(hi) << 32n) | BigInt(lo));
  }

  /** Let a paused vCPU run again; its clock continues from where it stopped. */
  resume(): void {
    const { words } = this.#v;
    if (Atomics.load(words, RUN_STATE) !== RunState.Paused) return;
    this.#applyClock();
    this.#resumeRequestedNs = hostMonotonicNs();
    Atomics.store(words, RUN_STATE, RunState.Running);
    Atomics.notify(words, RUN_STATE);
  }

  /**
   * From the last pause request to the vCPU's acknowledgement, as the vCPU
   * timed it (host monotonic clock, shared by all threads), in ns.
   */
  get lastPauseLatencyNs(): bigint | undefined {
    const parked = Atomics.load(this.#v.wide, PARKED_AT64);
    return parked >= this.#pauseRequestedNs && this.#pauseRequestedNs > 0n ? parked - this.#pauseRequestedNs : undefined;
  }

  /** The vCPU thread's Linux thread id, once its worker has started (QEMU's query-cpus-fast thread-id). */
  get threadId(): number | undefined {
    const tid = Atomics.load(this.#v.words, THREAD_ID);
    return tid > 0 ? tid : undefined;
  }

  /**
   * The thread id, waiting up to `timeoutMs` for a worker still starting (it
   * reports at start: a VM's later vCPUs start their threads after the boot
   * vCPU's, and may not have when the guest already answers).
   */
  async threadIdWhenStarted(timeoutMs = 2000): Promise<number | undefined> {
    const w = Atomics.waitAsync(this.#v.words, THREAD_ID, 0, timeoutMs);
    if (w.async) await w.value;
    return this.threadId;
  }

  /** From the last resume to the vCPU leaving its parked wait, in ns (undefined until it has). */
  get lastResumeLatencyNs(): bigint | undefined {
    const resumed = Atomics.load(this.#v.wide, RESUMED_AT64);
    return resumed >= this.#resumeRequestedNs && this.#resumeRequestedNs > 0n ? resumed - this.#resumeRequestedNs : undefined;
  }

  /** Mark MSI-X `vector` pending and wake the vCPU (irqfd-like). */
  raiseInterrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= MAX_VECTORS) throw new RangeError(`MSI-X vector ${vector} out of range`);
    Atomics.or(this.#v.words, IRQ_PENDING + (vector >> 5), 1 << (vector & 31));
    this.#wake();
  }

  /**
   * MSI-X vectors raised but not yet taken by the guest (bit i = vector i):
   * interrupt state that must migrate with a paused vCPU.
   */
  get pendingInterrupts(): bigint {
    const lo = Atomics.load(this.#v.words, IRQ_PENDING) >>> 0;
    const hi = Atomics.load(this.#v.words, IRQ_PENDING + 1) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A destination restores the pending vectors it was sent (before resuming). */
  setPendingInterrupts(mask: bigint): void {
    Atomics.store(this.#v.words, IRQ_PENDING, Number(BigInt.asIntN(32, mask & 0xffffffffn)));
    Atomics.store(this.#v.words, IRQ_PENDING + 1, Number(BigInt.asIntN(32, (mask >> 32n) & 0xffffffffn)));
  }

  /** Stop the vCPU for good and wait for its thread to end. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { words } = this.#v;
    Atomics.store(words, RUN_STATE, RunState.StopRequested);
    Atomics.notify(words, RUN_STATE);
    this.#wake();
    // Also unblock the doorbell and MMIO waiters so their loops see #closed.
    Atomics.add(words, DOORBELL_SEQ, 1);
    Atomics.notify(words, DOORBELL_SEQ);
    Atomics.notify(words, MMIO_STATE);
    const timer = setTimeout(() => void this.#thread.terminate(), 2000);
    try {
      await this.#exited.catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  #applyClock(): void {
    if (this.#pausedGuestNs === undefined) return;
    Atomics.store(this.#v.wide, CLOCK_OFFSET64, this.#pausedGuestNs - hostMonotonicNs());
    this.#pausedGuestNs = undefined;
  }

  #wake(): void {
    Atomics.add(this.#v.words, WAKE_SEQ, 1);
    Atomics.notify(this.#v.words, WAKE_SEQ);
  }

  async #serveMmio(): Promise<void> {
    const { words, wide } = this.#v;
    while (!this.#closed) {
      const state = Atomics.load(words, MMIO_STATE);
      if (state !== MmioState.Request) {
        // Wait for the word to change from what it is now (Idle, or a
        // Response the vCPU has not picked up yet): never spin.
        const w = Atomics.waitAsync(words, MMIO_STATE, state);
        if (w.async) await w.value;
        continue;
      }
      const op = Atomics.load(words, MMIO_OP) === MMIO_READ ? 'read' : 'write';
      const size = Atomics.load(words, MMIO_SIZE);
      const addr = Atomics.load(wide, MMIO_ADDR64);
      const value = Atomics.load(wide, MMIO_VALUE64);
      let result = 0n;
      let fault = 0;
      try {
        result = this.#opts.mmio(op, addr, size, value);
      } catch {
        // An access the device refuses reads as all-ones, like a PCI master abort.
        fault = 1;
        result = size >= 8 ? -1n : (1n << BigInt(size * 8)) - 1n;
      }
      Atomics.store(wide, MMIO_VALUE64, BigInt.asIntN(64, result));
      Atomics.store(words, MMIO_ERROR, fault);
      Atomics.store(words, MMIO_STATE, MmioState.Response);
      Atomics.notify(words, MMIO_STATE);
    }
  }

  async #serveDoorbells(): Promise<void> {
    const { words } = this.#v;
    let seq = Atomics.load(words, DOORBELL_SEQ);
    while (!this.#closed) {
      const w = Atomics.waitAsync(words, DOORBELL_SEQ, seq);
      if (w.async) await w.value;
      seq = Atomics.load(words, DOORBELL_SEQ);
      const lo = Atomics.exchange(words, DOORBELL_BITS, 0) >>> 0;
      const hi = Atomics.exchange(words, DOORBELL_BITS + 1, 0) >>> 0;
      if ((lo | hi) !== 0 && !this.#closed) this.#opts.onDoorbell((BigInt(hi) << 32n) | BigInt(lo));
    }
  }
}

export { MMIO_ERROR };

/**
 * The shared-memory contract between the VMM and one vCPU worker (DESIGN §3).
 * Both sides import this file; nothing else defines offsets.
 *
 * One control block per vCPU: a SharedArrayBuffer seen as Int32Array words
 * (run state, wake sequence, interrupt and doorbell bits, the MMIO mailbox)
 * plus a BigInt64Array tail (the guest clock offset, mailbox values).
 *
 *   word  name            writer      meaning
 *   0     RUN_STATE       both        RUNNING → PAUSE_REQUESTED (VMM) → PAUSED (vCPU) → RUNNING (VMM)
 *                                     RUNNING/PAUSED → STOP_REQUESTED (VMM) → STOPPED (vCPU)
 *   1     WAKE_SEQ        VMM         bumped + notified to wake a sleeping vCPU (irq, pause, stop)
 *   2-3   IRQ_PENDING     VMM         MSI-X vectors 0..63 pending (Atomics.or; vCPU exchanges to 0)
 *   4     DOORBELL_SEQ    vCPU        bumped + notified after setting DOORBELL_BITS
 *   5-6   DOORBELL_BITS   vCPU        virtqueue notifications 0..63 (VMM exchanges to 0)
 *   7     MMIO_STATE      both        IDLE → REQUEST (vCPU) → RESPONSE (VMM) → IDLE (vCPU)
 *   8     MMIO_OP         vCPU        MMIO_READ | MMIO_WRITE
 *   9     MMIO_SIZE       vCPU        1, 2, 4 or 8 bytes
 *   10    MMIO_ERROR      VMM         0 ok, else an access fault (the guest sees all-ones)
 *   11    THREAD_ID       vCPU        the worker's Linux thread id, written (and notified) once at start (0: not yet, -1: unknown)
 *   12-13 (BigInt64 6)    MMIO_ADDR   BAR-relative address
 *   14-15 (BigInt64 7)    MMIO_VALUE  write value / read result
 *   16-17 (BigInt64 8)    CLOCK_OFFSET_NS  guest ns = host monotonic ns + offset
 *   18-19 (BigInt64 9)    SLICE_COUNT statistics: slices run (for pause-latency tests)
 *   20-21 (BigInt64 10)   PARKED_AT   host ns when the vCPU acknowledged a pause (vCPU writes)
 *   22-23 (BigInt64 11)   RESUMED_AT  host ns when the vCPU left the parked wait (vCPU writes)
 *
 * (BigInt64 index i covers words 2i and 2i+1.)
 *
 * Ordering: every word is accessed with Atomics, which are sequentially
 * consistent, so a value written before a notify is seen by the woken side.
 */

export const RUN_STATE = 0;
export const WAKE_SEQ = 1;
export const IRQ_PENDING = 2; // 2 words
export const DOORBELL_SEQ = 4;
export const DOORBELL_BITS = 5; // 2 words
export const MMIO_STATE = 7;
export const MMIO_OP = 8;
export const MMIO_SIZE = 9;
export const MMIO_ERROR = 10;
export const THREAD_ID = 11;

/** BigInt64Array indices. */
export const MMIO_ADDR64 = 6;
export const MMIO_VALUE64 = 7;
export const CLOCK_OFFSET64 = 8;
export const SLICE_COUNT64 = 9;
export const PARKED_AT64 = 10;
export const RESUMED_AT64 = 11;

export const CONTROL_BLOCK_BYTES = 96;

export const enum RunState {
  Running = 0,
  PauseRequested = 1,
  Paused = 2,
  StopRequested = 3,
  Stopped = 4,
}

export const enum MmioState {
  Idle = 0,
  Request = 1,
  Response = 2,
}

export const MMIO_READ = 1;
export const MMIO_WRITE = 2;

/** MSI-X vectors and doorbells a control block can carry. */
export const MAX_VECTORS = 64;
export const MAX_DOORBELLS = 64;

export interface ControlViews {
  words: Int32Array;
  wide: BigInt64Array;
}

export function controlViews(sab: SharedArrayBuffer): ControlViews {
  if (sab.byteLength < CONTROL_BLOCK_BYTES) throw new RangeError(`vCPU control block needs ${CONTROL_BLOCK_BYTES} bytes`);
  return { words: new Int32Array(sab, 0, CONTROL_BLOCK_BYTES / 4), wide: new BigInt64Array(sab, 0, CONTROL_BLOCK_BYTES / 8) };
}

/** Host monotonic time in ns, the same clock in every thread (uv_hrtime). */
export function hostMonotonicNs(): bigint {
  return process.hrtime.bigint();
}

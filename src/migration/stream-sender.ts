/**
 * The source's side of the byte stream: batches handed to the link with
 * backpressure, max-bandwidth pacing, turns for the event loop (which also
 * runs the guest's NIC), recycled buffers, and the RAM passes written in
 * QEMU's layout. OutgoingMigration decides what to send and when; this
 * decides how the bytes go.
 */

import { VmigError } from '../core/index.js';
import type { MigrationLink } from '../host/index.js';
import type { StreamEncoder } from '../stream/index.js';
import { nowMs } from './migration-types.js';
import type { RamStats } from './migration-types.js';
import type { PageScanner } from './ram-pages.js';
import { SendBufferPool } from './send-buffers.js';

/**
 * 'rate' — max-bandwidth applies and the event loop gets a turn after each
 * batch; 'yield' — only the turns; 'none' — neither (the stop).
 */
export type Pace = 'rate' | 'yield' | 'none';

/** Pages per PART section, and per write inside one (256 KiB of page data). */
const PAGES_PER_SECTION = 4096;
const PAGES_PER_WRITE = 64;
/** A batch ends past this many bytes. */
const BATCH_BYTES = 128 * 1024;
/** The longest the sender works before the event loop (the guest's NIC, QMP) gets a turn, while the guest runs. */
const TURN_MS = 1;
/** A batch is flushed past BATCH_BYTES, after at most PAGES_PER_WRITE more pages: it always fits. */
export const SEND_BUFFER_BYTES = 512 * 1024;
/** Idle buffers kept: the socket rarely holds more than a few batches (backpressure). */
const SEND_BUFFERS_KEPT = 8;
/** Pacing window for max-bandwidth: QEMU uses 100 ms; shorter windows spread the sending evenly instead of in bursts that starve the guest's datapath on this thread. */
const RATE_WINDOW_MS = 10;

/** What the sender needs from its migration. */
export interface SenderHost {
  readonly link: MigrationLink;
  /** Throws when the migration is being cancelled. */
  checkCancelled(): void;
  /** Bytes per second; 0 = unlimited. */
  readonly maxBandwidth: number;
  /** Races a wait against the migration's abort (cancel, a dead destination). */
  race<T>(p: Promise<T>): Promise<T>;
  readonly ram: RamStats;
  /** The RAM section's id and version in this stream. */
  readonly ramSection: { sectionId: number; version: number };
}

export class StreamSender {
  readonly #h: SenderHost;
  readonly #buffers = new SendBufferPool(SEND_BUFFER_BYTES, SEND_BUFFERS_KEPT);
  #window = { start: 0, bytes: 0 };

  constructor(host: SenderHost) {
    this.#h = host;
  }

  /** Send what `enc` holds; its buffer returns to the pool once the kernel has the bytes. */
  flush(enc: StreamEncoder, pace: Pace): Promise<void> {
    if (enc.pendingBytes === 0) return Promise.resolve();
    return this.send(enc.takeSwap(this.#buffers.get()), pace);
  }

  /** Write, honouring backpressure and (pace 'rate') max-bandwidth. */
  async send(bytes: Uint8Array, pace: Pace): Promise<void> {
    if (bytes.length === 0) return;
    const h = this.#h;
    h.checkCancelled();
    const link = h.link;
    if (link.closed) {
      // onClose has (or is about to have) aborted with the reason: let it win.
      await h.race(sleep(0));
      throw new VmigError('ERR_MIGRATE_DESTINATION_GONE', 'the destination closed the connection');
    }
    const ok = link.write(bytes, () => this.#buffers.release(bytes));
    h.ram.transferred += bytes.length;
    if (!ok) await h.race(link.drained());
    const limit = h.maxBandwidth;
    if (pace === 'rate' && limit > 0) {
      const now = nowMs();
      if (now - this.#window.start >= RATE_WINDOW_MS) this.#window = { start: now, bytes: 0 };
      this.#window.bytes += bytes.length;
      const allowance = (limit * RATE_WINDOW_MS) / 1000;
      if (this.#window.bytes >= allowance) {
        await h.race(sleep(this.#window.start + RATE_WINDOW_MS - now));
        this.#window = { start: nowMs(), bytes: 0 };
      }
    }
    // Let the event loop run: the NIC's datapath and the vCPUs' MMIO share this thread.
    if (pace !== 'none') await h.race(new Promise<void>((r) => setImmediate(r)));
  }

  /** One RAM pass: PART sections of PAGES_PER_SECTION pages ('part'), or one END section with every page ('end'). */
  async sendPages(enc: StreamEncoder, scanner: PageScanner, pages: Uint32Array, kind: 'part' | 'end', pace: Pace): Promise<void> {
    const { ram, ramSection } = this.#h;
    let i = 0;
    let turnStart = nowMs();
    do {
      enc.sectionHeader({ kind, sectionId: ramSection.sectionId, idstr: 'ram', instanceId: 0, version: ramSection.version });
      const sectionEnd = kind === 'end' ? pages.length : Math.min(i + PAGES_PER_SECTION, pages.length);
      while (i < sectionEnd) {
        const to = Math.min(i + PAGES_PER_WRITE, sectionEnd);
        const zeros = scanner.encode(enc, pages, i, to);
        ram.duplicate += zeros;
        ram.normal += to - i - zeros;
        ram.normalBytes = ram.normal * 4096;
        i = to;
        if (i >= sectionEnd) break;
        // A batch ends at BATCH_BYTES, or — while the guest runs — after TURN_MS
        // of scanning: zero pages cost time but almost no bytes, and this thread
        // is also the guest's NIC (a 16 MiB section of zeros is milliseconds).
        if (enc.pendingBytes >= BATCH_BYTES || (pace !== 'none' && nowMs() - turnStart >= TURN_MS)) {
          await this.flush(enc, pace);
          turnStart = nowMs();
        }
      }
      enc.ramEos().footer(ramSection.sectionId);
      if (kind === 'part') {
        await this.flush(enc, pace);
        turnStart = nowMs();
      }
    } while (i < pages.length);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

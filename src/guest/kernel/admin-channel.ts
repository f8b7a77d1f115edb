/**
 * The guest admin channel (DESIGN §3): the host asks the guest to do what an
 * administrator would do inside it (`ip link set … address`, `ip maddr add`,
 * `ethtool -L`, …) and reads its status. It is a mailbox in guest RAM, so a
 * command in flight migrates with the guest like everything else.
 *
 *   ADMIN_CHANNEL + 0x0000  u32 request seq   (host bumps it after writing the request)
 *                 + 0x0004  u32 request length
 *                 + 0x0008  request JSON {"op": …, …}
 *   ADMIN_CHANNEL + 0x1000  u32 response seq  (guest sets it to the request seq when done)
 *                 + 0x1004  u32 response length
 *                 + 0x1008  response JSON {"ok": true, "result": …} | {"ok": false, "error": "…"}
 *
 * The host wakes the guest with interrupt ADMIN_VECTOR; the guest answers
 * with doorbell ADMIN_DOORBELL. Sequence words are written with Atomics after
 * the payload, so whoever sees a new seq also sees its payload.
 */

import type { GuestMemory } from '../../memory/index.js';
import { VmigError, decodeText, encodeText } from '../../core/index.js';
import { ADMIN_CHANNEL, ADMIN_CHANNEL_BYTES } from './ram-layout.js';

export const ADMIN_VECTOR = 63;
export const ADMIN_DOORBELL = 63;
const HALF = ADMIN_CHANNEL_BYTES / 2;
const REQ = ADMIN_CHANNEL;
const RESP = ADMIN_CHANNEL + HALF;
const MAX_PAYLOAD = HALF - 8;

export interface AdminRequest {
  op: string;
  [arg: string]: unknown;
}

export type AdminResponse = { ok: true; result: unknown } | { ok: false; error: string };

function writeMessage(mem: GuestMemory, at: number, json: string): number {
  const bytes = encodeText(json);
  if (bytes.length > MAX_PAYLOAD) throw new VmigError('ERR_GUEST_ADMIN_TOO_LARGE', `Admin message of ${bytes.length} bytes exceeds ${MAX_PAYLOAD}`);
  mem.write(at + 8, bytes);
  mem.writeU32(at + 4, bytes.length);
  return bytes.length;
}

function readMessage(mem: GuestMemory, at: number): unknown {
  const len = mem.readU32(at + 4);
  if (len > MAX_PAYLOAD) throw new VmigError('ERR_GUEST_ADMIN_BAD_MESSAGE', `Admin message claims ${len} bytes (max ${MAX_PAYLOAD})`);
  return JSON.parse(decodeText(mem.slice(at + 8, len)));
}

/** Host side: one request at a time; `respond` is fed from the doorbell. */
export class AdminChannelHost {
  readonly #mem: GuestMemory;
  readonly #kick: () => void;
  #pending: { seq: number; resolve: (r: AdminResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(mem: GuestMemory, kick: () => void) {
    this.#mem = mem;
    this.#kick = kick;
  }

  /**
   * Send a request and wait for the guest's answer.
   * @throws VmigError ERR_GUEST_ADMIN_TIMEOUT when the guest does not answer in time
   */
  request(req: AdminRequest, timeoutMs = 5000): Promise<AdminResponse> {
    const run = async (): Promise<AdminResponse> => {
      const seq = (this.#mem.readU32(REQ) + 1) >>> 0;
      writeMessage(this.#mem, REQ, JSON.stringify(req));
      const answered = new Promise<AdminResponse>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#pending = undefined;
          reject(new VmigError('ERR_GUEST_ADMIN_TIMEOUT', `The guest did not answer admin request ${req.op} within ${timeoutMs} ms (is it running?)`));
        }, timeoutMs);
        this.#pending = { seq, resolve, reject, timer };
      });
      this.#mem.atomicStoreU32(REQ, seq);
      this.#kick();
      this.poll();
      return answered;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Check for a response (called on the admin doorbell, and after a request is sent). */
  poll(): void {
    const p = this.#pending;
    if (!p || this.#mem.atomicLoadU32(RESP) !== p.seq) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    try {
      p.resolve(readMessage(this.#mem, RESP) as AdminResponse);
    } catch (err) {
      p.reject(err as Error);
    }
  }
}

/** Guest side: take the pending request, if any, and answer it. */
export class AdminChannelGuest {
  readonly #mem: GuestMemory;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
  }

  /** The request waiting for an answer, or undefined. */
  pending(): { seq: number; request: AdminRequest } | undefined {
    const seq = this.#mem.atomicLoadU32(REQ);
    if (seq === this.#mem.atomicLoadU32(RESP)) return undefined;
    let request: AdminRequest;
    try {
      request = readMessage(this.#mem, REQ) as AdminRequest;
    } catch {
      request = { op: '' };
    }
    return { seq, request };
  }

  answer(seq: number, response: AdminResponse): void {
    let json: string;
    try {
      json = JSON.stringify(response, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      writeMessage(this.#mem, RESP, json);
    } catch (err) {
      writeMessage(this.#mem, RESP, JSON.stringify({ ok: false, error: (err as Error).message }));
    }
    this.#mem.atomicStoreU32(RESP, seq);
  }
}

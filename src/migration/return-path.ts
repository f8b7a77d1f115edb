/**
 * The return path: messages from the destination back to the source on the
 * same connection (QEMU migration.c `migrate_send_rp_message`):
 *
 *   be16 type · be16 len · len bytes
 *
 * QEMU's types keep QEMU's numbers. vmig adds one, X_VMIG_REPORT, whose JSON
 * payload carries what QEMU's SHUT cannot: why the destination refused, and
 * how long its part of the downtime took, phase by phase. A QEMU source
 * would reject it as an unknown type, but a QEMU source never talks to a vmig
 * destination (their device sets differ).
 */

import { ByteReader, ByteWriter, MalformedError, TruncatedError, decodeText, encodeText } from '../core/index.js';

export const MIG_RP_MSG_SHUT = 1;
export const MIG_RP_MSG_PONG = 2;
export const MIG_RP_MSG_REQ_PAGES_ID = 3;
export const MIG_RP_MSG_REQ_PAGES = 4;
export const MIG_RP_MSG_RECV_BITMAP = 5;
export const MIG_RP_MSG_RESUME_ACK = 6;
export const MIG_RP_MSG_SWITCHOVER_ACK = 7;
export const MIG_RP_MSG_X_VMIG_REPORT = 0x7601;

/** QEMU reads a return-path message into a 512-byte buffer; vmig's report may be longer. */
const QEMU_RP_MAX = 512;
const REPORT_MAX = 16384;

/** Fixed payload lengths (QEMU's rp_cmd_args); -1 = variable. */
const FIXED_LENGTH: Record<number, number> = {
  [MIG_RP_MSG_SHUT]: 4,
  [MIG_RP_MSG_PONG]: 4,
  [MIG_RP_MSG_REQ_PAGES]: 12,
  [MIG_RP_MSG_RESUME_ACK]: 4,
  [MIG_RP_MSG_SWITCHOVER_ACK]: 0,
};

/** What the destination tells the source about its side of the switchover. */
export interface DestinationReport {
  ok: boolean;
  /** Why it refused or failed (ok = false). */
  error?: string;
  /**
   * Destination phases, in ms: deviceLoadMs, backendAttachMs, resumeMs are
   * inside the downtime; devicesAfterRunningMs (the NIC unquiesced) follows
   * "running" in the same synchronous step, announceMs (arming it) a few ms
   * later, with this report.
   */
  phases?: { deviceLoadMs?: number; backendAttachMs?: number; announceMs?: number; resumeMs?: number; [k: string]: number | undefined };
  /** virtio-net work inside the downtime on the destination (ms): section decode, load, backend attach. */
  netDowntimeMs?: number;
  /** Sent once, when the return path opens: what this destination can take (early virtio-net migration). */
  hello?: { earlyMig: boolean; policy: string };
  /** Early migration, as the destination saw it. */
  early?: { setupLoadMs: number; downtimeLoadMs: number; changed: string[]; fullReload: boolean };
  /** Host monotonic clock (ms) at EOF decoded, guest running, SHUT sent: meaningful to a source on the same host. */
  times?: { eofAt: number; runningAt: number; shutAt: number };
  /** Anything else worth reporting (early-migration outcome, …). */
  [key: string]: unknown;
}

export type ReturnPathMessage =
  | { type: 'shut'; status: number }
  | { type: 'pong'; value: number }
  | { type: 'switchover-ack' }
  | { type: 'report'; report: DestinationReport };

export function encodeReturnPath(msg: ReturnPathMessage): Uint8Array {
  const w = new ByteWriter(32);
  switch (msg.type) {
    case 'shut':
      w.u16be(MIG_RP_MSG_SHUT).u16be(4).u32be(msg.status);
      break;
    case 'pong':
      w.u16be(MIG_RP_MSG_PONG).u16be(4).u32be(msg.value);
      break;
    case 'switchover-ack':
      w.u16be(MIG_RP_MSG_SWITCHOVER_ACK).u16be(0);
      break;
    case 'report': {
      let json = encodeText(JSON.stringify(msg.report));
      if (json.length > REPORT_MAX) json = encodeText(JSON.stringify({ ok: msg.report.ok, error: String(msg.report.error ?? '').slice(0, 1000) }));
      w.u16be(MIG_RP_MSG_X_VMIG_REPORT).u16be(json.length).bytes(json);
      break;
    }
  }
  return w.finish();
}

/** Incremental decoder of the return path (bytes arrive in arbitrary pieces). */
export class ReturnPathDecoder {
  #buf = new Uint8Array(0);
  #offset = 0;

  /** @throws MalformedError ERR_MIGRATE_BAD_RETURN_PATH */
  push(chunk: Uint8Array): ReturnPathMessage[] {
    const buf = this.#buf.length === 0 ? chunk : concat(this.#buf, chunk);
    const out: ReturnPathMessage[] = [];
    const r = new ByteReader(buf, this.#offset, 0, buf.length, true);
    let consumed = 0;
    for (;;) {
      try {
        out.push(this.#one(r));
        consumed = r.position;
      } catch (e) {
        if (e instanceof TruncatedError) break;
        throw e;
      }
    }
    this.#offset += consumed;
    this.#buf = buf.slice(consumed);
    return out;
  }

  #one(r: ByteReader): ReturnPathMessage {
    const at = r.offset;
    const type = r.u16be('be16 return-path message type');
    const len = r.u16be('be16 return-path message length');
    const fixed = FIXED_LENGTH[type];
    const bad = (why: string) => new MalformedError('ERR_MIGRATE_BAD_RETURN_PATH', `Bad return-path message at byte ${at}: ${why}`, { offset: at, expected: 'a return-path message (type, length, payload)' });
    if (type === MIG_RP_MSG_X_VMIG_REPORT) {
      if (len > REPORT_MAX) throw bad(`report of ${len} bytes exceeds ${REPORT_MAX}`);
    } else if (fixed === undefined) {
      throw bad(type === 0 || type > MIG_RP_MSG_SWITCHOVER_ACK ? `unknown type ${type}` : `type ${type} (postcopy) is not used by vmig`);
    } else if (len !== fixed || len > QEMU_RP_MAX) {
      throw bad(`type ${type} must carry ${fixed} bytes, not ${len}`);
    }
    const data = r.bytes(len, 'return-path payload');
    const d = new ByteReader(data);
    switch (type) {
      case MIG_RP_MSG_SHUT:
        return { type: 'shut', status: d.u32be('be32 status') };
      case MIG_RP_MSG_PONG:
        return { type: 'pong', value: d.u32be('be32 value') };
      case MIG_RP_MSG_SWITCHOVER_ACK:
        return { type: 'switchover-ack' };
      case MIG_RP_MSG_X_VMIG_REPORT: {
        let report: unknown;
        try {
          report = JSON.parse(decodeText(data));
        } catch {
          throw bad('the report is not JSON');
        }
        if (typeof report !== 'object' || report === null || typeof (report as DestinationReport).ok !== 'boolean') throw bad('the report is not an object with a boolean "ok"');
        return { type: 'report', report: report as DestinationReport };
      }
      default:
        throw bad(`type ${type} (postcopy) is not used by vmig`);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
